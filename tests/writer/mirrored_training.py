"""Run by test_distributed.py in a fresh process: two logical CPUs must be set up first."""

import sys

import keras
import numpy as np
import tensorflow as tf

import tb_lr_plugin as tblr


class Probe(keras.layers.Layer):
    def call(self, x):
        tblr.record("input_mean", keras.ops.mean(x))
        tblr.record("step", tblr.current_step(default=0))
        tblr.record("rate", tblr.current_learning_rate(default=0.0))
        return x


def main(log_dir: str) -> None:
    # Before TensorFlow initialises its devices, so only in a fresh process.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    schedule = keras.optimizers.schedules.CosineDecay(0.0, 30, warmup_target=0.1, warmup_steps=5)
    with strategy.scope():
        model = keras.Sequential(
            [keras.Input((3,)), Probe(name="probe"), keras.layers.Dense(1)], name="net"
        )
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    x = np.arange(160 * 3, dtype="float32").reshape(160, 3) / 100.0
    model.fit(
        x,
        x.sum(axis=1, keepdims=True),
        batch_size=16,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(log_dir)],
    )
    np.save(f"{log_dir}/batch_means.npy", x.reshape(10, 16 * 3).mean(axis=1))


if __name__ == "__main__":
    main(sys.argv[1])
