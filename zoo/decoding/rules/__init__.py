"""The reading rules: how a musician's reading corrects what the token output read, each on a batch of padded
token ids in TensorFlow, run eagerly by the library and inside the serving graph
(:class:`zoo.decoding.reader.Reader` runs them in order; :class:`zoo.decoding.config.ReadingConfig` switches
them and holds their thresholds)."""
