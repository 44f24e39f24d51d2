"""Everything below the GUI: models, stores, services. Never imports Qt."""
