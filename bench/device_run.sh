# The command sent to a lent GPU (see bench/device_run.py): wheels from .whl/, a preflight import, then the run.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax TOOLKIT_DATA=/tmp/data PYTHONUNBUFFERED=1
export JAX_COMPILATION_CACHE_DIR=/tmp/jaxcache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0  # probe compiles once
python3 -c "import jax, keras, toolkit.tasks; print('preflight', keras.__version__, jax.__version__, jax.devices())" \
    >> "$OUT/driver.log" 2>&1 || { cat "$OUT/driver.log"; exit 1; }
python3 -m bench.device_run run
rc=$?; tail -40 "$OUT/driver.log"; exit $rc
