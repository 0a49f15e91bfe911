"""FCN-32s on PASCAL-Context, 59 classes.

    fcn-jax train --config experiments/configs/pascal_context_fcn32s.py \\
        --workdir runs/pascal_context_fcn32s \\
        --config.init_from=VGG16.npz

Init: VGG16 (ILSVRC).
Solver: SGD, momentum 0.99, fixed learning rate 1e-10, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed.
Aims at: 35.1 mean IU (PAMI 2016, Table 6, 59 classes).
Dataset: `pascal_context`, prepared with `fcn-jax data prepare pascal_context --manual-dir DIR`
  (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    config = reference_config(
        dataset="pascal_context", arch="fcn32s", learning_rate=1e-10, init_from="VGG16.npz"
    )
    return config
