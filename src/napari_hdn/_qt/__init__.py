"""The napari dock widgets of napari-hdn (private): they collect choices, run the core's generators in
thread workers and write results back as layers. No model logic lives here; the core never imports this."""
