"""A Flower App: logistic regression on MNIST, some clients Byzantine, aggregated by byzagg."""
