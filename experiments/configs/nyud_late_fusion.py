"""FCN-16s on NYUDv2, late fusion: colour and HHA streams whose scores are averaged.

    fcn-jax train --config experiments/configs/nyud_late_fusion.py \\
        --workdir runs/nyud_late_fusion \\
        --config.init_from='runs/nyud_color|runs/nyud_hha'

Init: the trained colour and HHA FCN-32s streams, one workdir per stream separated by '|'.
Net: as the reference's nyud-fcn32s-color-hha, each score layer (score_fr, and here also
  score_pool4) is averaged over the streams (Eltwise SUM, coefficients 0.5) and upsampled once;
  the 16s skip is this project's extension of the released 32s net.
Solver: SGD, momentum 0.99, fixed learning rate 1e-12, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed.
Aims at: 34.0 mean IU (CVPR 2015, Table 4, RGB-HHA FCN-16s; 33.3 for FCN-32s).
Dataset: `nyud`, prepared with `fcn-jax data prepare nyud --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    config = reference_config(
        dataset="nyud",
        arch="fcn16s",
        learning_rate=1e-12,
        init_from="runs/nyud_color|runs/nyud_hha",
    )
    config.input = "color|hha"
    return config
