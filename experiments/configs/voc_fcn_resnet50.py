"""FCN-ResNet50 (dilated, output stride 8; torchvision's fcn_resnet50) on PASCAL VOC.

    fcn-jax convert --from torchvision resnet50.pth --arch fcn-resnet50 \\
        --out weights/resnet50-fcn
    fcn-jax train --config experiments/configs/voc_fcn_resnet50.py \\
        --workdir runs/voc_fcn_resnet50

Init: ImageNet ResNet-50 (torchvision) converted: the trunk and its batch-norm statistics
  transplanted, fc dropped, the FCN head (3x3 conv, batch norm, 1x1 scores) initialised.
Solver: torchvision's segmentation recipe scaled to one host: SGD, momentum 0.9, learning rate
  0.01 with poly decay (power 0.9), weight decay 1e-4, mean loss, batch 8 of 480x480 random
  crops after 0.5-2x random scaling and flips; batch norm trained (config.train_bn); the
  auxiliary head's loss added at 0.5 (config.aux_loss_weight).
Aims at: torchvision's fcn_resnet50, 60.5 mean IU (COCO val2017 with the 20 VOC classes; trained
  on COCO there, on VOC+SBD here, so the figure is a guide, not a target).
Dataset: `voc_sbd`, prepared with `fcn-jax data prepare voc_sbd --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import get_config as default


def get_config():
    config = default()
    config.dataset, config.arch, config.init_from = (
        "voc_sbd",
        "fcn-resnet50",
        "weights/resnet50-fcn",
    )
    config.width, config.train_bn, config.batch_size = 1.0, True, 8
    config.augment_scale, config.crop_size, config.flip = (0.5, 2.0), 480, True
    config.total_steps, config.eval_every, config.checkpoint_every = 30_000, 2000, 2000
    config.optimizer.name, config.optimizer.learning_rate = "sgd", 0.01
    config.optimizer.lr_schedule, config.optimizer.momentum = "poly", 0.9
    config.optimizer.weight_decay = 1e-4
    config.loss.normalize, config.aux_loss_weight = "mean", 0.5
    return config
