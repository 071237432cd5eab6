"""One JAX process of test_jax_distribution.py: `fit` with the logger under `DataParallel`.

Usage: python jax_distributed_training.py LOGDIR devices
       python jax_distributed_training.py LOGDIR process ID PORT

`devices`: one process, two CPU devices (XLA's host platform device count).
`process`: process ID of two started on loopback with `jax.distributed`, one
CPU device each (collectives over gloo).
"""

import os
import sys

log_dir, mode = sys.argv[1], sys.argv[2]
if mode == "devices":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402

if mode == "process":
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{sys.argv[4]}", num_processes=2, process_id=int(sys.argv[3])
    )

import keras  # noqa: E402
from training_logs import data, small_model  # noqa: E402

import tb_lr_plugin as tblr  # noqa: E402

assert len(jax.devices()) == 2, jax.devices()
# Each process reads the same arrays: no sharding of the dataset by Keras.
distribution = keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
keras.distribution.set_distribution(distribution)
schedule = keras.optimizers.schedules.CosineDecay(0.1, 40, warmup_target=0.2, warmup_steps=8)
model = small_model(keras.optimizers.Adam(schedule), steps_per_execution=2)
x, y = data(10)
model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
print("trained", int(model.optimizer.iterations.numpy()), flush=True)
