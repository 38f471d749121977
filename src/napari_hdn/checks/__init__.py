"""Checks at the door: user arrays, the inputs of every entry point that runs a model, intensity ranges, and
the one table of the public API's shared options.
"""
