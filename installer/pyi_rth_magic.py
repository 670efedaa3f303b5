"""PyInstaller runtime hook (pyinstaller.spec): python-magic's compat module loads libmagic's default database
twice when it is imported, from the path compiled into the bundled libmagic (the build machine's). Where the
system has no database there (no libmagic-mgc), libmagic prints "Warning: using regular magic file" twice on
every start. Point those loads at the bundled magic.mgc, then leave the environment as it was, so that programs
the app starts (a file manager) do not inherit it. The classifier passes the bundled file explicitly.
"""

import os
import sys

_mgc = os.path.join(getattr(sys, "_MEIPASS", ""), "magic.mgc")
if os.path.isfile(_mgc) and "MAGIC" not in os.environ:
    os.environ["MAGIC"] = _mgc
    try:
        import magic  # noqa: F401  # imported here once, with MAGIC set; later imports reuse it
    except ImportError:
        pass  # no libmagic: the app classifies by extension and says so
    finally:
        del os.environ["MAGIC"]
