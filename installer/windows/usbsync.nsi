; usbsync's Windows installer: per user (no administrator rights), 64-bit, built on Linux by Debian's makensis
; (make windows, scripts/windows/build-installer.sh), which defines:
;   VERSION   usbsync_gui.__version__ (its one definition), e.g. 0.1.0
;   VERSION4  the same as four numbers for the version resource, e.g. 0.1.0.0
;   APPDIR    the frozen app (PyInstaller's dist/usbsync: usbsync.exe, usbsync-gui.exe, _internal\)
;   ICON      the .ico drawn from usbsync.svg
;   OUTFILE   dist/usbsync-<version>-windows-x64-setup.exe
;
; It installs into %LOCALAPPDATA%\Programs\usbsync, adds a Start-menu shortcut, optionally starts the tray app at
; login (the HKCU Run value "usbsync" -> usbsync-gui.exe, the same value the app's Settings checkbox writes), and
; an Add/Remove Programs entry. Installing over an installed version replaces its program files and keeps the
; user's configuration, queue and logs (%LOCALAPPDATA%\usbsync), and keeps start-at-login as it was.
;
; Command line (silent use):
;   setup.exe /S [/NOAUTOSTART] [/D=folder]     /NOAUTOSTART: no start at login (a silent install starts it
;                                               at login, as an interactive one does by default)
;   uninstall.exe /S [/REMOVEDATA]              the configuration, queue and logs are kept unless /REMOVEDATA
;                                               is given; an interactive uninstall asks, default keep
; The outbox folder holds the user's own files and is never removed; neither are passwords the app stored in
; Windows Credential Manager.

Unicode true
Target amd64-unicode
RequestExecutionLevel user
SetCompressor /SOLID lzma
ManifestDPIAware true

!define APP "usbsync"
!define PUBLISHER "usbsync"
!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${APP}"
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
!define DATA_DIR "$LOCALAPPDATA\${APP}"  ; platformdirs' config, state and log folders on Windows

!include "MUI2.nsh"
!include "FileFunc.nsh"
!include "LogicLib.nsh"
!include "Sections.nsh"
!include "x64.nsh"

Name "${APP} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$LOCALAPPDATA\Programs\${APP}"
InstallDirRegKey HKCU "${UNINST_KEY}" "InstallLocation"  ; an upgrade goes where the last install went
BrandingText "${APP} ${VERSION}"

VIProductVersion "${VERSION4}"
VIAddVersionKey "ProductName" "${APP}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${APP} ${VERSION} setup"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "LegalCopyright" "MIT License"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\usbsync-gui.exe"
!define MUI_FINISHPAGE_RUN_TEXT "Start ${APP} now"

!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

Section "${APP} (required)" SecApp
	SectionIn RO
	SetShellVarContext current
	SetOutPath "$INSTDIR"
	; An upgrade: the old version's program files go first, so none of them lingers beside the new ones. Only
	; what an install puts here is removed (the folder may have been chosen by hand).
	RMDir /r "$INSTDIR\_internal"
	Delete "$INSTDIR\usbsync.exe"
	Delete "$INSTDIR\usbsync-gui.exe"
	File /r "${APPDIR}\*.*"
	WriteUninstaller "$INSTDIR\uninstall.exe"
	CreateShortcut "$SMPROGRAMS\${APP}.lnk" "$INSTDIR\usbsync-gui.exe" "" "$INSTDIR\usbsync-gui.exe" 0 \
		SW_SHOWNORMAL "" "Copy files from your outbox to the right USB drive"

	WriteRegStr HKCU "${UNINST_KEY}" "DisplayName" "${APP}"
	WriteRegStr HKCU "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
	WriteRegStr HKCU "${UNINST_KEY}" "Publisher" "${PUBLISHER}"
	WriteRegStr HKCU "${UNINST_KEY}" "DisplayIcon" "$INSTDIR\usbsync-gui.exe,0"
	WriteRegStr HKCU "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
	WriteRegStr HKCU "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
	WriteRegStr HKCU "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
	WriteRegDWORD HKCU "${UNINST_KEY}" "NoModify" 1
	WriteRegDWORD HKCU "${UNINST_KEY}" "NoRepair" 1
	${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
	WriteRegDWORD HKCU "${UNINST_KEY}" "EstimatedSize" $0  ; KiB
SectionEnd

Section "Start ${APP} when I log in" SecAutostart
	; The tray app's windowed executable, never a console one (no console window at every login).
	WriteRegStr HKCU "${RUN_KEY}" "${APP}" '"$INSTDIR\usbsync-gui.exe"'
SectionEnd

Section "-autostart off"  ; hidden: runs always, after the above; undoes start-at-login when it is unticked
	${IfNot} ${SectionIsSelected} ${SecAutostart}
		DeleteRegValue HKCU "${RUN_KEY}" "${APP}"
	${EndIf}
SectionEnd

!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
	!insertmacro MUI_DESCRIPTION_TEXT ${SecApp} "The tray app and the usbsync command line."
	!insertmacro MUI_DESCRIPTION_TEXT ${SecAutostart} "Start the tray app at login, so files are copied as soon as a drive is plugged in."
!insertmacro MUI_FUNCTION_DESCRIPTION_END

Function .onInit
	${IfNot} ${RunningX64}
		MessageBox MB_ICONSTOP "${APP} needs 64-bit Windows." /SD IDOK
		Abort
	${EndIf}
	SetRegView 64
	; An upgrade keeps start-at-login as the user left it (in Settings or in the last install).
	ReadRegStr $0 HKCU "${UNINST_KEY}" "InstallLocation"
	${If} $0 != ""
		ReadRegStr $1 HKCU "${RUN_KEY}" "${APP}"
		${If} $1 == ""
			!insertmacro UnselectSection ${SecAutostart}
		${EndIf}
	${EndIf}
	${GetParameters} $R0
	ClearErrors
	${GetOptions} $R0 "/NOAUTOSTART" $R1
	${IfNot} ${Errors}
		!insertmacro UnselectSection ${SecAutostart}
	${EndIf}
FunctionEnd

Var RemoveData

Function un.onInit
	SetRegView 64
	StrCpy $RemoveData 0
	${GetParameters} $R0
	ClearErrors
	${GetOptions} $R0 "/REMOVEDATA" $R1
	${IfNot} ${Errors}
		StrCpy $RemoveData 1
	${ElseIfNot} ${Silent}
		MessageBox MB_YESNO|MB_ICONQUESTION|MB_DEFBUTTON2 \
			"Also remove your ${APP} settings, the queue of files waiting for their drive, and the logs?$\r$\n$\r$\n\
			(${DATA_DIR}. Your outbox folder and the files on your drives stay either way.)" IDNO +2
		StrCpy $RemoveData 1
	${EndIf}
FunctionEnd

Section "Uninstall"
	SetShellVarContext current
	DeleteRegValue HKCU "${RUN_KEY}" "${APP}"
	Delete "$SMPROGRAMS\${APP}.lnk"
	RMDir /r "$INSTDIR\_internal"
	Delete "$INSTDIR\usbsync.exe"
	Delete "$INSTDIR\usbsync-gui.exe"
	Delete "$INSTDIR\uninstall.exe"
	RMDir "$INSTDIR"  ; only if empty: the folder may hold something that is not ours
	DeleteRegKey HKCU "${UNINST_KEY}"
	${If} $RemoveData == 1
		RMDir /r "${DATA_DIR}"
	${EndIf}
SectionEnd
