"""The ILSVRC classifiers the FCNs start from, as layer definitions typed from their public
prototxts (see caffe_nets): CaffeNet and GoogLeNet from BVLC/caffe's models/ train_val
files, VGG16 from the VGG_ILSVRC_16_layers deploy definition (its released file is V1)."""

from caffe_nets import LEARN, L, conv, drop, lrn, pool, relu

LMDB = "examples/imagenet/ilsvrc12_{}_lmdb"


def _data(crop, batch, transform):  # the TRAIN and TEST Data layers of a train_val file
    layers = []
    for phase, split, size, mirror in (("TRAIN", "train", batch, True), ("TEST", "val", 50, False)):
        fields = {"source": LMDB.format(split), "backend": "LMDB", "batch_size": size}
        t = {"crop_size": crop, "mirror": mirror, **transform}
        layers.append(L("data", "Data", (), ("data", "label"), data_param=fields,
                        transform_param=t, include=[{"phase": phase}]))  # fmt: skip
    return layers


def _accuracy(name, bottom, top_k=None):
    extra = {"accuracy_param": {"top_k": top_k}} if top_k else {}
    return L(name, "Accuracy", (bottom, "label"), include=[{"phase": "TEST"}], **extra)


def caffenet(w):
    """models/bvlc_reference_caffenet/train_val.prototxt of the V1 era the released file comes
    from (blobs_lr 1/2, weight_decay 1/0 are the param specs here); conv2, conv4, conv5 have
    group 2 (their widths kept even)."""
    mean = {"mean_file": "data/ilsvrc12/imagenet_mean.binaryproto"}

    def even(n):
        return max(2, round(w(n) / 2) * 2)

    def c(name, bottom, n, bias, **fields):
        fillers = {"weight_filler": {"type": "gaussian", "std": 0.01},
                   "bias_filler": {"type": "constant", "value": bias}}  # fmt: skip
        return conv(name, bottom, even(n), **fields, **fillers)

    def fc(name, bottom, n, std, bias):
        fields = {"num_output": n, "weight_filler": {"type": "gaussian", "std": std},
                  "bias_filler": {"type": "constant", "value": bias}}  # fmt: skip
        return L(name, "InnerProduct", bottom, param=LEARN, inner_product_param=fields)

    return [*_data(227, 256, mean),
            c("conv1", "data", 96, 0, kernel_size=11, stride=4), relu("relu1", "conv1"),
            pool("pool1", "conv1", 3, 2), lrn("norm1", "pool1"),
            c("conv2", "norm1", 256, 1, pad=2, kernel_size=5, group=2), relu("relu2", "conv2"),
            pool("pool2", "conv2", 3, 2), lrn("norm2", "pool2"),
            c("conv3", "norm2", 384, 0, pad=1, kernel_size=3), relu("relu3", "conv3"),
            c("conv4", "conv3", 384, 1, pad=1, kernel_size=3, group=2), relu("relu4", "conv4"),
            c("conv5", "conv4", 256, 1, pad=1, kernel_size=3, group=2), relu("relu5", "conv5"),
            pool("pool5", "conv5", 3, 2),
            fc("fc6", "pool5", w(4096), 0.005, 1), relu("relu6", "fc6"), drop("drop6", "fc6"),
            fc("fc7", "fc6", w(4096), 0.005, 1), relu("relu7", "fc7"), drop("drop7", "fc7"),
            fc("fc8", "fc7", 1000, 0.01, 0), _accuracy("accuracy", "fc8"),
            L("loss", "SoftmaxWithLoss", ("fc8", "label"))]  # fmt: skip


def googlenet(w):
    """models/bvlc_googlenet/train_val.prototxt: xavier weights, 0.2 biases (0 for the
    classifiers); two auxiliary heads (loss1 after 4a, loss2 after 4d, loss_weight 0.3);
    names with slashes."""
    x = {"type": "xavier"}

    def bias(value):
        return {"type": "constant", "value": value}

    def c(name, bottom, n, **fields):
        return conv(name, bottom, w(n), **fields, weight_filler=x, bias_filler=bias(0.2))

    def fc(name, bottom, n, b):
        fields = {"num_output": n, "weight_filler": x, "bias_filler": bias(b)}
        return L(name, "InnerProduct", bottom, param=LEARN, inner_product_param=fields)

    def inception(p, bottom, n1, n3r, n3, n5r, n5, npool):
        out = []
        for branch, n, k, pad in (("1x1", n1, 1, 0), ("3x3_reduce", n3r, 1, 0), ("3x3", n3, 3, 1),
                                  ("5x5_reduce", n5r, 1, 0), ("5x5", n5, 5, 2)):  # fmt: skip
            src = bottom if branch in ("1x1", "3x3_reduce", "5x5_reduce") else out[-2].name
            pads = {"pad": pad} if pad else {}
            out += [c(f"{p}/{branch}", src, n, **pads, kernel_size=k)]
            out += [relu(f"{p}/relu_{branch}", f"{p}/{branch}")]
        out += [pool(f"{p}/pool", bottom, 3, 1, pad=1), c(f"{p}/pool_proj", f"{p}/pool", npool,
                kernel_size=1), relu(f"{p}/relu_pool_proj", f"{p}/pool_proj")]  # fmt: skip
        branches = tuple(f"{p}/{b}" for b in ("1x1", "3x3", "5x5", "pool_proj"))
        return [*out, L(f"{p}/output", "Concat", branches)]

    def aux(k, bottom):
        p = f"loss{k}"
        loss = L(f"{p}/loss", "SoftmaxWithLoss", (f"{p}/classifier", "label"), f"{p}/loss{k}",
                 loss_weight=[0.3])  # fmt: skip
        return [pool(f"{p}/ave_pool", bottom, 5, 3, "AVE"), c(f"{p}/conv", f"{p}/ave_pool", 128,
                kernel_size=1), relu(f"{p}/relu_conv", f"{p}/conv"),
                fc(f"{p}/fc", f"{p}/conv", w(1024), 0.2), relu(f"{p}/relu_fc", f"{p}/fc"),
                drop(f"{p}/drop_fc", f"{p}/fc", 0.7), fc(f"{p}/classifier", f"{p}/fc", 1000, 0),
                loss, _accuracy(f"{p}/top-1", f"{p}/classifier"),
                _accuracy(f"{p}/top-5", f"{p}/classifier", 5)]  # fmt: skip

    net = [*_data(224, 32, {"mean_value": [104, 117, 123]}),
           c("conv1/7x7_s2", "data", 64, pad=3, kernel_size=7, stride=2),
           relu("conv1/relu_7x7", "conv1/7x7_s2"), pool("pool1/3x3_s2", "conv1/7x7_s2", 3, 2),
           lrn("pool1/norm1", "pool1/3x3_s2"),
           c("conv2/3x3_reduce", "pool1/norm1", 64, kernel_size=1),
           relu("conv2/relu_3x3_reduce", "conv2/3x3_reduce"),
           c("conv2/3x3", "conv2/3x3_reduce", 192, pad=1, kernel_size=3),
           relu("conv2/relu_3x3", "conv2/3x3"), lrn("conv2/norm2", "conv2/3x3"),
           pool("pool2/3x3_s2", "conv2/norm2", 3, 2),
           *inception("inception_3a", "pool2/3x3_s2", 64, 96, 128, 16, 32, 32),
           *inception("inception_3b", "inception_3a/output", 128, 128, 192, 32, 96, 64),
           pool("pool3/3x3_s2", "inception_3b/output", 3, 2),
           *inception("inception_4a", "pool3/3x3_s2", 192, 96, 208, 16, 48, 64),
           *aux(1, "inception_4a/output"),
           *inception("inception_4b", "inception_4a/output", 160, 112, 224, 24, 64, 64),
           *inception("inception_4c", "inception_4b/output", 128, 128, 256, 24, 64, 64),
           *inception("inception_4d", "inception_4c/output", 112, 144, 288, 32, 64, 64),
           *aux(2, "inception_4d/output"),
           *inception("inception_4e", "inception_4d/output", 256, 160, 320, 32, 128, 128),
           pool("pool4/3x3_s2", "inception_4e/output", 3, 2),
           *inception("inception_5a", "pool4/3x3_s2", 256, 160, 320, 32, 128, 128),
           *inception("inception_5b", "inception_5a/output", 384, 192, 384, 48, 128, 128),
           pool("pool5/7x7_s1", "inception_5b/output", 7, 1, "AVE"),
           drop("pool5/drop_7x7_s1", "pool5/7x7_s1", 0.4),
           fc("loss3/classifier", "pool5/7x7_s1", 1000, 0)]  # fmt: skip
    loss = L("loss3/loss3", "SoftmaxWithLoss", ("loss3/classifier", "label"), loss_weight=[1])
    return [*net, loss, _accuracy("loss3/top-1", "loss3/classifier"),
            _accuracy("loss3/top-5", "loss3/classifier", 5)]  # fmt: skip


def vgg16(w):
    """VGG_ILSVRC_16_layers (deploy): 3x3 pad 1 convs, 2x2/2 MAX pools, fc6/fc7 4096 with
    ReLU and Dropout 0.5, fc8 1000, prob; no param specs, no data layer (an input blob)."""
    net, bottom = [], "data"
    for stage, (n, reps) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
        for i in range(1, reps + 1):
            name = f"conv{stage}_{i}"
            net += [conv(name, bottom, w(n), None, pad=1, kernel_size=3)]
            net += [relu(f"relu{stage}_{i}", name)]
            bottom = name
        net.append(pool(f"pool{stage}", bottom, 2, 2))
        bottom = f"pool{stage}"
    for i in (6, 7):
        fields = {"num_output": w(4096)}
        net += [L(f"fc{i}", "InnerProduct", bottom, inner_product_param=fields)]
        net += [relu(f"relu{i}", f"fc{i}"), drop(f"drop{i}", f"fc{i}")]
        bottom = f"fc{i}"
    fc8 = L("fc8", "InnerProduct", "fc7", inner_product_param={"num_output": 1000})
    return [*net, fc8, L("prob", "Softmax", "fc8")]


BUILDERS = {"vgg16-ilsvrc": vgg16, "caffenet": caffenet, "bvlc-googlenet": googlenet}
