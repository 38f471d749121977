"""Foundations every other part stands on: errors, progress events and stop tokens, the device and thread
policy, the type names of the signatures. Imports nothing of the package but config's helpers.
"""
