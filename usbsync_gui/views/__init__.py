"""The tray application's widgets and models. Only this package touches widgets; the engine reaches it only
through signals."""
