#!/bin/sh
# Installs the system packages neco's default build needs on Debian/Ubuntu: the FFmpeg
# development libraries (the HEVC anchor of `neco rd`, through ffmpeg-next), clang for
# bindgen, and pkg-config. Does nothing when they are already there; uses sudo when
# not run as root. (`cargo build --no-default-features` needs none of them.)
set -eu
PKGS="pkg-config clang libclang-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "installing:$missing" >&2
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
