"""The PySide6 desktop application. Widgets never await: they call services and listen to events."""
