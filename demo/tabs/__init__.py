"""The demo's tab groups, one module each; each builds its tab's widgets and events inside the caller's `gr.Tab`."""
