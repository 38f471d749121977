"""Files in and out: atomic writes, TIFF and OME-Zarr images with their pixel size, result files, the
BioImage Model Zoo package and the built-in sample data. No pickle anywhere.
"""
