#!/usr/bin/env bash
# Rewrite the ROS-wheel build machine's baked paths (/opt/python/cpXY-cpXY/...) in the venv's
# ament/rosidl CMake + ament-index files so interface packages build here. Idempotent.
#   usage: fix_ros_wheel_cmake.sh VENV
set -euo pipefail
VENV="$(cd "${1:?pass the venv path}" && pwd)"
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1   # skip the wheels' re-exec hook for these helper calls
PY_INC="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
NP_INC="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
[ -f "$PY_INC/Python.h" ] || { echo "missing $PY_INC/Python.h (apt-get install python3-dev)" >&2; exit 1; }
BAKED='/opt/python/cp[0-9]+-cp[0-9]+[a-z]*'
mapfile -t FILES < <(grep -rIlE "$BAKED" "$VENV/share" "$VENV/lib/cmake" 2>/dev/null || true)
[ ${#FILES[@]} -gt 0 ] || { echo "fix_ros_wheel_cmake: nothing to fix" >&2; exit 0; }
sed -E -i \
  -e "s#${BAKED}/include/python[0-9.]+[a-z]*#${PY_INC}#g" \
  -e "s#${BAKED}/lib/python[0-9.]+/site-packages/numpy/(_core/)?include#${NP_INC}#g" \
  -e "s#${BAKED}#${VENV}#g" \
  "${FILES[@]}"
echo "fix_ros_wheel_cmake: rewrote ${#FILES[@]} files" >&2
