"""FCN-32s-GoogLeNet on PASCAL VOC (the paper's Table 1 third net; never released).

    fcn-jax convert --from caffe bvlc_googlenet.caffemodel --arch fcn32s-googlenet \\
        --out weights/googlenet-fcn32s
    fcn-jax train --config experiments/configs/voc_fcn32s_googlenet.py \\
        --workdir runs/voc_fcn32s_googlenet

Init: bvlc_googlenet (ILSVRC) converted: the trunk transplanted, the final average pooling and
  the three classifiers (two auxiliary) dropped, score_fr zero, upscore bilinear (63/32).
Solver: SGD, momentum 0.99, fixed learning rate 1e-10, summed loss, batch 1, weight decay 5e-4
  on weights, biases at 2x the rate, bilinear upsampling fixed (as FCN-32s-VGG16).
Aims at: 42.5 mean IU on the paper's VOC 2011 validation subset (CVPR 2015, Table 1); the paper
  notes it did not reach the classifier-level accuracy of VGG16.
Dataset: `voc_sbd`, prepared with `fcn-jax data prepare voc_sbd --manual-dir DIR` (issue #4).
"""

from fcn_jax.default_config import reference_config


def get_config():
    return reference_config(
        dataset="voc_sbd",
        arch="fcn32s-googlenet",
        learning_rate=1e-10,
        init_from="weights/googlenet-fcn32s",
    )
