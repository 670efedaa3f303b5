"""The running engine on QtCore: watcher, drive monitor and copy workers as QObjects on QThreads, talking by
signals. It never touches widgets; ``usbsync run`` hosts it under a QCoreApplication, the tray app under its
QApplication."""
