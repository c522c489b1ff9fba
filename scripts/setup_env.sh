#!/usr/bin/env bash
# Create or refresh the project environment (idempotent; a second run is a no-op in seconds).
#   usage: scripts/setup_env.sh ENV_DIR
# ENV_DIR holds the venv, the built interface packages and the anny cache. Stamps inside it
# are keyed on the requirement files and the interface definitions, so several clones can
# share one environment and a change to either triggers exactly the step it needs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_DIR="${1:?usage: setup_env.sh ENV_DIR}"
mkdir -p "$ENV_DIR"
ENV_DIR="$(cd "$ENV_DIR" && pwd)"
STAMPS="$ENV_DIR/.stamps"
mkdir -p "$STAMPS"
log() { printf '[setup] %s\n' "$*" >&2; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# One setup at a time per environment (parallel CI runs / clones share it).
exec 9>"$ENV_DIR/.setup.lock"
flock 9

# 1. system libraries (Debian): OpenGL/GLib for opencv, libusb for open3d, OSMesa for rendering.
APT_PKGS=(libgl1 libglib2.0-0 libusb-1.0-0 libosmesa6 libegl1 cmake)
missing=()
for p in "${APT_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    log "WARNING: missing system packages: ${missing[*]} (install them with apt-get as root)"
  fi
fi

# 2. Python packages
PY_STAMP="$STAMPS/python-$(hash_of "$ROOT/requirements.txt" "$ROOT/requirements-nodeps.txt")"
if [ ! -f "$PY_STAMP" ]; then
  PYTHON="${PYTHON:-python3.11}"
  command -v "$PYTHON" >/dev/null || PYTHON=python3
  [ -x "$ENV_DIR/bin/python" ] || { log "creating venv in $ENV_DIR"; "$PYTHON" -m venv "$ENV_DIR"; }
  export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1  # plain pip runs; the wheels' re-exec hook is not needed
  "$ENV_DIR/bin/python" -m pip install -q --upgrade pip wheel "setuptools<80"
  log "pip install -r requirements.txt (first time: a few minutes, ~6 GB)"
  "$ENV_DIR/bin/python" -m pip install -q -r "$ROOT/requirements.txt"
  "$ENV_DIR/bin/python" -m pip install -q --no-deps -r "$ROOT/requirements-nodeps.txt"
  "$ROOT/scripts/fix_ros_wheel_cmake.sh" "$ENV_DIR"
  rm -f "$STAMPS"/python-* "$STAMPS"/msgs-*
  touch "$PY_STAMP"
fi

# 3. interface packages built into the venv (rosidl from the PyPI wheels)
MSG_FILES=$(find "$ROOT/msgs" "$ROOT/vendor" -type f \( -name '*.msg' -o -name 'CMakeLists.txt' -o -name 'package.xml' \) | sort)
# shellcheck disable=SC2086
MSG_STAMP="$STAMPS/msgs-$(hash_of $MSG_FILES)"
if [ ! -f "$MSG_STAMP" ]; then
  BUILD="$ENV_DIR/build"
  for pkg in "$ROOT"/vendor/* "$ROOT/msgs"; do
    name=$(basename "$pkg")
    log "building interface package $(grep -oP '(?<=<name>)[^<]+' "$pkg/package.xml")"
    rm -rf "$BUILD/$name"
    cmake -S "$pkg" -B "$BUILD/$name" -DBUILD_TESTING=OFF -DCMAKE_INSTALL_PREFIX="$ENV_DIR" \
      -DCMAKE_PREFIX_PATH="$ENV_DIR" -DPython3_EXECUTABLE="$ENV_DIR/bin/python" \
      -DCMAKE_BUILD_TYPE=Release >"$BUILD-$name.log" 2>&1 \
      && cmake --build "$BUILD/$name" -j2 >>"$BUILD-$name.log" 2>&1 \
      && cmake --install "$BUILD/$name" >>"$BUILD-$name.log" 2>&1 \
      || { tail -30 "$BUILD-$name.log" >&2; log "interface build failed: $BUILD-$name.log"; exit 1; }
  done
  rm -f "$STAMPS"/msgs-*
  touch "$MSG_STAMP"
fi

# 4. The project is NOT installed into the shared venv (an install there runs whichever clone
#    installed it last): each clone gets launchers of its own in .env/bin (gitignored) that run
#    the shared venv's python with this clone first on PYTHONPATH; `source scripts/activate`
#    puts them on PATH. An install left by an earlier version of this script is removed.
if compgen -G "$ENV_DIR/lib/python3*/site-packages/scorehoi_node-*.dist-info" >/dev/null; then
  log "removing the project's install from the shared venv (each clone runs its own code)"
  _ROS_WHEELS_BOOTSTRAP_COMPLETE=1 "$ENV_DIR/bin/python" -m pip uninstall -q -y scorehoi_node
fi
rm -f "$STAMPS"/editable-*
LAUNCH="$ROOT/.env/bin"
mkdir -p "$LAUNCH"
write_launcher() {  # NAME PYTHON-ARGS...: .env/bin/NAME runs this clone's code
  local name="$1"; shift
  cat >"$LAUNCH/$name.tmp" <<LAUNCHER
#!/usr/bin/env bash
# Written by scripts/setup_env.sh: \`$name\` of the clone $ROOT on the environment $ENV_DIR.
export PYTHONPATH="$ROOT\${PYTHONPATH:+:\$PYTHONPATH}"
case ":\${AMENT_PREFIX_PATH:-}:" in *":$ENV_DIR:"*) ;; *) export AMENT_PREFIX_PATH="$ENV_DIR\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}" ;; esac
export ANNY_CACHE_DIR="\${ANNY_CACHE_DIR:-$ENV_DIR/anny-cache}"
export PYOPENGL_PLATFORM="\${PYOPENGL_PLATFORM:-osmesa}"
export YOLO_OFFLINE="\${YOLO_OFFLINE:-1}"
exec "$ENV_DIR/bin/python" $* "\$@"
LAUNCHER
  chmod +x "$LAUNCH/$name.tmp"
  mv -f "$LAUNCH/$name.tmp" "$LAUNCH/$name"
}
write_launcher scorehoi -m scorehoi_node.cli
write_launcher scorehoi_node -c "'import sys; from scorehoi_node.ros.node import main; sys.argv[0] = \"scorehoi_node\"; main()'"
printf '%s\n' "$ENV_DIR" >"$ROOT/.env/env_dir"

# 5. anny body-model cache: built once here (~70 s), never inside a test run.
ANNY_STAMP="$STAMPS/anny-$(hash_of "$ROOT/requirements.txt")"
if [ ! -f "$ANNY_STAMP" ]; then
  log "building the anny body-model cache (once, ~70 s)"
  ANNY_CACHE_DIR="$ENV_DIR/anny-cache" "$ENV_DIR/bin/python" -c "import anny; anny.Anny()" >&2
  touch "$ANNY_STAMP"
fi
log "environment ready: $ENV_DIR; enter it from this clone with: source scripts/activate"
