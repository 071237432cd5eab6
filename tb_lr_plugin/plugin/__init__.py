"""The reader side: the TensorBoard plugin behind the LR tab.

TensorBoard loads it through the `tensorboard_plugins` entry point
(`loader.LearningRatePluginLoader`). Nothing here imports TensorFlow or Keras.
"""
