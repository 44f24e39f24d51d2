#!/usr/bin/env bash
# Make the macOS disk image from the .app that PyInstaller built (packaging/actor-trainer.spec
# makes "dist/Actor Trainer.app" on macOS). Run from the repository root on a Mac:
#
#   pyinstaller --noconfirm packaging/actor-trainer.spec
#   packaging/macos/make-dmg.sh          # -> dist/actor-trainer-<version>-macos-<arch>.dmg
#
# The version comes from pyproject.toml. Signing and notarisation happen only when their
# variables are set (packaging/SIGNING.md):
#   MACOS_SIGN_IDENTITY   "Developer ID Application: <Team> (<TEAMID>)" — sign the .app and the .dmg
#   MACOS_NOTARY_PROFILE  a notarytool keychain profile (xcrun notarytool store-credentials) — notarise
#                         the .dmg and staple the ticket
# Without them the .dmg is unsigned: Gatekeeper then asks the user to allow the app (right-click →
# Open). Written and reviewed, not run on the Linux CI; .github/workflows/release.yml runs it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
[ "$(uname -s)" = Darwin ] || { echo "make-dmg.sh runs on macOS (it needs hdiutil)." >&2; exit 2; }

APP_NAME="Actor Trainer"
APP="dist/$APP_NAME.app"
VERSION="$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
ARCH="$(uname -m)"
DMG="dist/actor-trainer-$VERSION-macos-$ARCH.dmg"

[ -d "$APP" ] || { echo "no $APP: run pyinstaller --noconfirm packaging/actor-trainer.spec first" >&2; exit 1; }
plist_version="$(/usr/libexec/PlistBuddy -c 'Print :CFBundleShortVersionString' "$APP/Contents/Info.plist")"
[ "$plist_version" = "$VERSION" ] || { echo "$APP says $plist_version, pyproject says $VERSION: rebuild" >&2; exit 1; }

if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
  # Hardened runtime (required for notarisation); PyInstaller's bootloader needs no entitlements
  # beyond the default for a Python app that loads its own libraries.
  codesign --force --deep --options runtime --timestamp \
    --entitlements packaging/macos/entitlements.plist --sign "$MACOS_SIGN_IDENTITY" "$APP"
  codesign --verify --deep --strict --verbose=2 "$APP"
fi

staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT
cp -R "$APP" "$staging/"
ln -s /Applications "$staging/Applications"  # drag the app onto it to install
rm -f "$DMG"
hdiutil create -volname "$APP_NAME $VERSION" -srcfolder "$staging" -fs HFS+ -format UDZO -ov "$DMG"

if [ -n "${MACOS_SIGN_IDENTITY:-}" ]; then
  codesign --force --timestamp --sign "$MACOS_SIGN_IDENTITY" "$DMG"
fi
if [ -n "${MACOS_NOTARY_PROFILE:-}" ]; then
  xcrun notarytool submit "$DMG" --keychain-profile "$MACOS_NOTARY_PROFILE" --wait
  xcrun stapler staple "$DMG"
  spctl --assess --type open --context context:primary-signature --verbose "$DMG"
fi
echo "$DMG"
