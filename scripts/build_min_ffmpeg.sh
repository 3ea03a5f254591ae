#!/bin/sh
# Build a minimal, static ffmpeg that does what the recipes ask of it and no more: raw RGB(A)
# frames on a pipe -> libx264 (yuv420p, crf, preset) -> MP4 with +faststart, and reading such an
# MP4 back (imageio-ffmpeg's read_frames). Usage: sh scripts/build_min_ffmpeg.sh OUT_EXE [WORK_DIR]
#
# Why: the GPU check's carry must fit one 64 MiB device call, and imageio-ffmpeg's bundled static
# ffmpeg (a build with every codec) is 27 MB as a wheel and ~19 MiB even xz-compressed; this one
# is 5.8 MiB. The sources come through apt, from the Debian release this machine's apt sources
# name (bookworm here): FFmpeg's source package and libx264-dev (which ships libx264.a). Needs apt-get,
# gcc, make and pkg-config; nasm is unpacked from its .deb, nothing is installed system-wide.
# Takes about 8 minutes on 2 cores (niced). Reuses WORK_DIR's build when it is there.
set -eu
out="${1:?usage: build_min_ffmpeg.sh OUT_EXE [WORK_DIR]}"
work="${2:-build/min-ffmpeg}"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
root="$work/root"
exe="$work/ffmpeg-bin"

if [ ! -x "$exe" ]; then
  mkdir -p "$work/lists/partial" "$work/parts" "$root"
  # A private deb-src list made from this machine's own apt sources (which are left alone).
  : >"$work/parts/src.sources"
  for f in /etc/apt/sources.list.d/*.sources; do
    if [ -f "$f" ]; then sed 's/^Types:.*/Types: deb-src/' "$f" >>"$work/parts/src.sources"; echo >>"$work/parts/src.sources"; fi
  done
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list >"$work/parts/src.list"
  fi
  apt_src="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$work/parts -o Dir::State::Lists=$work/lists"
  (cd "$work" && apt-get -q $apt_src update >/dev/null && apt-get -q $apt_src source --download-only ffmpeg \
     && apt-get -q download libx264-dev nasm)
  for deb in "$work"/libx264-dev_*.deb "$work"/nasm_*.deb; do dpkg -x "$deb" "$root"; done
  src="$work/src"
  rm -rf "$src" && mkdir -p "$src"
  tar -xJf "$work"/ffmpeg_*.orig.tar.xz -C "$src"
  cd "$src"/ffmpeg-*
  lib="$root/usr/lib/x86_64-linux-gnu"
  sed -i "s#^prefix=.*#prefix=$root/usr#; s#^libdir=.*#libdir=$lib#" "$lib/pkgconfig/x264.pc"
  PATH="$root/usr/bin:$PATH" PKG_CONFIG_PATH="$lib/pkgconfig" nice -n 19 ./configure \
    --disable-everything --disable-autodetect --disable-doc --disable-ffplay --disable-ffprobe \
    --disable-network --disable-debug --disable-shared --enable-static --enable-gpl --enable-libx264 \
    --pkg-config-flags=--static --extra-ldflags="-L$lib" --extra-ldexeflags=-static \
    --extra-libs="-lpthread -lm -ldl" \
    --enable-protocol=file,pipe --enable-demuxer=rawvideo,mov --enable-decoder=rawvideo,h264 \
    --enable-parser=h264 --enable-encoder=libx264,rawvideo --enable-muxer=mp4,mov,rawvideo,image2pipe,null \
    --enable-filter=scale,format,null,anull,aformat,trim,atrim,hflip,vflip,transpose,fps,setpts,pad,crop \
    --enable-swscale >"$work/configure.log"
  PATH="$root/usr/bin:$PATH" nice -n 19 make -j"$(nproc)" ffmpeg >"$work/make.log"
  strip ffmpeg
  cp ffmpeg "$exe"
fi
"$exe" -hide_banner -encoders | grep -q libx264 || { echo "build_min_ffmpeg: $exe has no libx264" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
cp "$exe" "$out"
chmod 755 "$out"
