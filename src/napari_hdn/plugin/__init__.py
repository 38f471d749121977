"""napari glue without Qt: the manifest's contributions (sample data, readers, writers), layer roles and the
widgets' shared session.
"""
