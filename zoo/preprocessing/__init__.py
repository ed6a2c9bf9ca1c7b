"""Pure TensorFlow preprocessing, usable in tf.data, TFX preprocessing_fn and serving signatures alike."""
