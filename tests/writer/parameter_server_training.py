"""ParameterServerStrategy on an in-process cluster, run by test_distributed.py.

Connecting to a cluster changes TensorFlow's whole context, so this runs in
its own process:

    python tests/writer/parameter_server_training.py LOG_DIR

It starts one worker and one parameter server on 127.0.0.1 in this process,
builds a model in the strategy's scope, gives it a `LearningRateLogger`
(through `CallbackList`: Keras 3.15's `fit` rejects this strategy's datasets
before any callback runs) and a `LearningRateWriter`, then trains a few steps
with a `ClusterCoordinator`. It prints one JSON object: the warnings, the
optimizer's final step count and whether a step tap was installed.
"""

from __future__ import annotations

import json
import socket
import sys
import warnings

import keras
import tensorflow as tf

import tb_lr_plugin as tblr
from tb_lr_plugin.writer import keras_internals

STEPS = 4


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def in_process_cluster() -> tf.distribute.cluster_resolver.ClusterResolver:
    """One worker and one parameter server, served by this process."""
    worker, ps = free_ports(2)
    spec = tf.train.ClusterSpec({"worker": [f"127.0.0.1:{worker}"], "ps": [f"127.0.0.1:{ps}"]})
    for job in ("worker", "ps"):
        tf.distribute.Server(spec, job_name=job, task_index=0, protocol="grpc", start=True)
    return tf.distribute.cluster_resolver.SimpleClusterResolver(spec, rpc_layer="grpc")


def main(log_dir: str) -> None:
    strategy = tf.distribute.experimental.ParameterServerStrategy(in_process_cluster())
    with strategy.scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    optimizer = model.optimizer
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        callbacks = keras.callbacks.CallbackList(
            [tblr.LearningRateLogger(log_dir)], model=model, epochs=1, steps=STEPS
        )
        callbacks.on_train_begin()
        writer = tblr.LearningRateWriter(log_dir, optimizer, run_name="custom_loop")

        def replica_step():
            x = tf.random.normal((8, 3))
            y = tf.reduce_sum(x, axis=1, keepdims=True)
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((model(x, training=True) - y) ** 2)
            variables = model.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))

        @tf.function
        def train_step():
            strategy.run(replica_step)

        coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
        callbacks.on_epoch_begin(0)
        for batch in range(STEPS):
            callbacks.on_train_batch_begin(batch)
            coordinator.schedule(train_step)
            writer.log()
            callbacks.on_train_batch_end(batch)
        coordinator.join()
        callbacks.on_epoch_end(0)
        callbacks.on_train_end()
        writer.close()
    print(
        json.dumps(
            {
                "warnings": [str(warning.message) for warning in caught],
                "iterations": int(optimizer.iterations.numpy()),
                "tapped": keras_internals.attached(optimizer, "tap") is not None,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
