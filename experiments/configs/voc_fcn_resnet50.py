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

from fcn_jax.default_config import torchvision_recipe_config


def get_config():
    return torchvision_recipe_config(
        dataset="voc_sbd", arch="fcn-resnet50", init_from="weights/resnet50-fcn"
    )
