//! The named setups of `byzagg train`, as data: each a list of `key=value` settings that
//! mirror a paper's experiment (the CLI applies them, then the flags given, in order).

/// The presets: name, description, settings.
///
/// ```
/// let (_, _, settings) = byzagg::train::PRESETS.iter().find(|p| p.0 == "mnist-async").unwrap();
/// assert!(settings.contains("workers=17"));
/// ```
pub const PRESETS: &[(&str, &str, &str)] = &[
    (
        "neurips-async-mnist",
        "the NeurIPS asynchronous MNIST setup: the papers' CNN, 17 workers of which 8 Byzantine, \
         lambda 0.4 (every 3rd update Byzantine), arrival ~ (i+1)^2, mu2-SGD (lr 0.01, batch 16, \
         beta 0.25, gamma 0.1), w-CTMA(w-CWMed), sign flipping",
        "task=mnist model=cnn mode=sim workers=17 byzantine=8 lambda=0.4 arrival=quadratic \
         byz-schedule=periodic optimizer=mu2 lr=0.01 batch=16 beta=0.25 gamma=0.1 rule=ctma(cwmed) \
         weighting=counts attack=sign-flip iterations=1500 eval-every=150",
    ),
    (
        "icml-sync-mnist",
        "the ICML synchronous MNIST setup as the authors' code runs it: their simple_mnist network \
         (two padded convolutions with BatchNorm2d), 17 workers of which 8 Byzantine, all \
         reporting every round with equal weights, each round the next 17 x 4 examples of a pass \
         over the training set (honest workers first), every gradient clipped to norm 2, \
         mu2-SGD (lr 0.1, beta_t = 1/t and gamma_t = 2/(t+1) rounded to 3 decimals and floored \
         at 0.01, the second pass after the step), momentum baseline from the first gradient, \
         CTMA(CWMed), sign flipping; 882 rounds (one epoch of the full MNIST)",
        "task=mnist model=simple-cnn mode=sync workers=17 byzantine=8 optimizer=mu2 lr=0.1 batch=4 \
         beta=1/t gamma=2/(t+1) round-schedules=true storm-order=after-step momentum=0.9 \
         momentum-start=gradient clip=2 sampling=epochs rule=ctma(cwmed) weighting=uniform \
         attack=sign-flip iterations=882 eval-every=98",
    ),
    (
        "mnist-async",
        "NeurIPS async MNIST: 17 workers, 8 Byzantine, lambda 0.4, arrival ~ (i+1)^2, mu2-SGD \
         (lr 0.01, batch 16, beta 0.25, gamma 0.1), w-CTMA(w-CWMed), sign flipping",
        "task=mnist workers=17 byzantine=8 lambda=0.4 arrival=quadratic byz-schedule=periodic \
         optimizer=mu2 lr=0.01 batch=16 beta=0.25 gamma=0.1 rule=ctma(cwmed) weighting=counts \
         attack=sign-flip iterations=3000 eval-every=250",
    ),
    (
        "mnist-optim",
        "optimizer comparison on MNIST: 9 workers, 4 Byzantine, lambda 0.4, arrival ~ (i+1)^2, \
         w-CTMA(w-CWMed), sign flipping, lr 0.01, batch 16",
        "task=mnist workers=9 byzantine=4 lambda=0.4 arrival=quadratic byz-schedule=periodic \
         optimizer=mu2 lr=0.01 batch=16 beta=0.25 gamma=0.1 rule=ctma(cwmed) weighting=counts \
         attack=sign-flip iterations=3000 eval-every=250",
    ),
    (
        "synthetic",
        "logistic regression, d = 200: 9 workers, 4 Byzantine, lambda 0.4, sign flipping",
        "task=synthetic dim=200 train-size=4000 workers=9 byzantine=4 lambda=0.4 arrival=quadratic \
         byz-schedule=periodic optimizer=mu2 lr=5 batch=16 beta=0.25 gamma=0.1 rule=ctma(cwmed) \
         weighting=counts attack=sign-flip iterations=600 eval-every=100",
    ),
    (
        "synthetic-large",
        "logistic regression, d = 10^6 (kernels at scale): 9 workers, 4 Byzantine, 40 updates",
        "task=synthetic dim=1000000 train-size=400 workers=9 byzantine=4 lambda=0.4 \
         arrival=quadratic byz-schedule=periodic optimizer=mu2 lr=2 batch=4 beta=0.25 gamma=0.1 \
         rule=ctma(cwmed) weighting=counts attack=sign-flip iterations=40 eval-every=20",
    ),
];
