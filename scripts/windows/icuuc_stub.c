/* A stand-in for Windows' own icuuc.dll, for Wine 8 only (make test-windows, the build under Wine, and the
 * installer's smoke test). Never shipped: it goes into the Wine prefix's system32, which PyInstaller leaves out
 * of the bundle, and the build and the smoke test check that the app has no icuuc.dll.
 *
 * Why: Qt 6.10+ (PySide6 6.10+) imports ICU's converter functions from icuuc.dll, Windows' own ICU library
 * in system32, which Wine 8 lacks (field notes). PySide6 6.9.3, the last release that loads
 * without it, crashes in QEventLoop::exec (the main thread's QThread object destroyed under it), on Linux as
 * under Wine, and so does 6.10.3 (docs/windows-tests.md): the Windows build moved to the release Linux runs.
 *
 * Every converter is unavailable here: ucnv_open fails with U_FILE_ACCESS_ERROR, and Qt falls back on its own
 * UTF-8/UTF-16/Latin-1 codecs, which are all usbsync uses. Exports: the 20 functions Qt6Core.dll 6.11 imports. */
#define EXPORT __declspec(dllexport)
#define U_FILE_ACCESS_ERROR 4

static void fail(int *err) { if (err) *err = U_FILE_ACCESS_ERROR; }

EXPORT void *ucnv_open(const char *name, int *err) { (void)name; fail(err); return 0; }
EXPORT void ucnv_close(void *cnv) { (void)cnv; }
EXPORT void ucnv_reset(void *cnv) { (void)cnv; }
EXPORT int ucnv_getMaxCharSize(void *cnv) { (void)cnv; return 1; }
EXPORT const char *ucnv_getName(void *cnv, int *err) { (void)cnv; fail(err); return ""; }
EXPORT void ucnv_getToUCallBack(void *cnv, void **action, const void **context) { (void)cnv; if (action) *action = 0; if (context) *context = 0; }
EXPORT void ucnv_getFromUCallBack(void *cnv, void **action, const void **context) { (void)cnv; if (action) *action = 0; if (context) *context = 0; }
EXPORT void ucnv_setToUCallBack(void *cnv, void *a, const void *c, void **oa, const void **oc, int *err) { (void)cnv; (void)a; (void)c; (void)oa; (void)oc; fail(err); }
EXPORT void ucnv_setFromUCallBack(void *cnv, void *a, const void *c, void **oa, const void **oc, int *err) { (void)cnv; (void)a; (void)c; (void)oa; (void)oc; fail(err); }
EXPORT void ucnv_toUnicode(void *cnv, void **t, const void *tl, const char **s, const char *sl, int *o, int flush, int *err) { (void)cnv; (void)t; (void)tl; (void)s; (void)sl; (void)o; (void)flush; fail(err); }
EXPORT void ucnv_fromUnicode(void *cnv, char **t, const char *tl, const void **s, const void *sl, int *o, int flush, int *err) { (void)cnv; (void)t; (void)tl; (void)s; (void)sl; (void)o; (void)flush; fail(err); }
EXPORT int ucnv_toUCountPending(const void *cnv, int *err) { (void)cnv; fail(err); return 0; }
EXPORT int ucnv_fromUCountPending(const void *cnv, int *err) { (void)cnv; fail(err); return 0; }
EXPORT const char *ucnv_getStandardName(const char *name, const char *standard, int *err) { (void)name; (void)standard; fail(err); return 0; }
EXPORT const char *ucnv_getAvailableName(int n) { (void)n; return 0; }
EXPORT int ucnv_countAvailable(void) { return 0; }
/* Callbacks Qt passes to the setters above, never called here. */
EXPORT void UCNV_FROM_U_CALLBACK_SUBSTITUTE(void) {}
EXPORT void UCNV_TO_U_CALLBACK_SUBSTITUTE(void) {}
EXPORT void ucnv_cbToUWriteUChars(void) {}
EXPORT void ucnv_cbFromUWriteUChars(void) {}
