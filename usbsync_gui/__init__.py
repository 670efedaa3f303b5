"""usbsync: route files from an outbox folder to the USB drive that holds their category, verified."""

__version__ = "0.1.0"
