; Inno Setup 6 script: a per-user Windows installer for Actor Trainer (no administrator rights).
;
; Built by .github/workflows/release.yml on a Windows runner after PyInstaller has made
; dist\actor-trainer\ from packaging\actor-trainer.spec:
;
;   iscc /DAppVersion=<version from pyproject.toml> packaging\windows\actor-trainer.iss
;
; The version is passed in, never written here (pyproject.toml is the one place). Output:
; dist\actor-trainer-<version>-windows-x64-setup.exe. Not built on the Linux CI; see
; packaging/README.md and packaging/SIGNING.md (the installer and the .exe files should be signed).
;
; Installs to %LOCALAPPDATA%\Programs\Actor Trainer, adds a Start-menu entry (and optionally a
; desktop icon) that starts actor-trainer-gui.exe (windowed; actor-trainer.exe is the console
; program for the command line), registers an uninstaller under the user's "Apps". An upgrade
; replaces the program files. The user's library, settings and logs (%LOCALAPPDATA%\actor-trainer)
; are never touched, by an upgrade or by the uninstaller.

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z packaging\windows\actor-trainer.iss
#endif

#define AppName "Actor Trainer"
#define AppExeName "actor-trainer-gui.exe"
; The reverse-DNS id of packaging/actor-trainer.spec (APP_RDNS); tests keep them equal.
#define AppRdns "io.github.actortrainer.ActorTrainer"

[Setup]
AppId={#AppRdns}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=The Actor Trainer authors
VersionInfoVersion={#AppVersion}
DefaultDirName={localappdata}\Programs\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
OutputDir=..\..\dist
OutputBaseFilename=actor-trainer-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\resources\app-icon\actor-trainer.ico
UninstallDisplayIcon={app}\{#AppExeName}
UninstallDisplayName={#AppName}
LicenseFile=..\..\LICENSE
WizardStyle=modern
Compression=lzma2/max
SolidCompression=yes
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the bundle whole: no stale library from an older version stays beside it.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "..\..\dist\actor-trainer\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExeName}"; IconFilename: "{app}\{#AppExeName}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExeName}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExeName}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; No [UninstallDelete] for user data: the uninstaller removes only what [Files] installed.
