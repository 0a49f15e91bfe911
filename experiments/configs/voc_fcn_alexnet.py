"""FCN-AlexNet on PASCAL VOC.

    fcn-jax train --config experiments/configs/voc_fcn_alexnet.py \\
        --workdir runs/voc_fcn_alexnet \\
        --config.init_from=AlexNet.npz

Init: CaffeNet (ILSVRC) weights, fc6/fc7 convolutionalized.
Solver: momentum 0.9, normalised (mean) loss, gradient accumulation over 20 images (Caffe
  iter_size 20).
Aims at: 48.0 mean IU on seg11valid (reference README; CVPR 2015 Table 1: 39.8 on val 2011).
Dataset: `voc_sbd`, prepared with `fcn-jax data prepare voc_sbd --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    config = reference_config(
        dataset="voc_sbd", arch="fcn-alexnet", learning_rate=0.0001, init_from="AlexNet.npz"
    )
    config.optimizer.momentum = 0.9
    config.optimizer.accumulate_steps = 20
    config.loss.normalize = "mean"
    return config
