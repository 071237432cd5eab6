"""One JAX process of test_jax_distribution.py: `fit` with the logger under `DataParallel`.

Usage: python jax_distributed_training.py LOGDIR devices
       python jax_distributed_training.py LOGDIR process ID PORT

`devices`: one process, two CPU devices (XLA's host platform device count).
`process`: process ID of two started on loopback with `jax.distributed`, one
CPU device each (collectives over gloo).
"""

import os
import sys


def main(log_dir: str, mode: str, *process: str) -> None:
    if mode == "devices":
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax

    if mode == "process":
        index, port = process
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=int(index)
        )
    import keras
    from training_logs import data, small_model

    import tb_lr_plugin as tblr

    assert len(jax.devices()) == 2, jax.devices()
    # Each process reads the same arrays: no sharding of the dataset by Keras.
    distribution = keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
    keras.distribution.set_distribution(distribution)
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 40, warmup_target=0.2, warmup_steps=8)
    model = small_model(keras.optimizers.Adam(schedule), steps_per_execution=2)
    x, y = data(10)
    model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    print("trained", int(model.optimizer.iterations.numpy()), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
