using Kiln.Nn;

namespace Kiln.Models;

/// <summary>
/// Lesson 18's Fashion-MNIST models ([N, 1, 28, 28] -> [N, 10] logits), built from its conv and ResBlock helpers with
/// GeneralRelu(0.1, 0.4), BatchNorm and Kaiming-normal init (a = 0.1). Module names follow the notebooks', so
/// <c>StateDict()</c> keys read like PyTorch's (<c>0.convs.0.0.weight</c>).
/// </summary>
/// <remarks>
/// The notebooks' conv() means to drop the conv bias before a BatchNorm but, given the BatchNorm class rather than an
/// instance, always keeps it; the lesson's parameter counts (1,226,892 for the ResNet, 4,907,588 / 1,231,428 / 1,224,948
/// for get_model2/3/4) include those biases. <see cref="Options.NotebookBias"/> (default true) reproduces them; false
/// gives the intended bias-free convs.
/// </remarks>
public static class FashionModels
{
    /// <summary>Choices shared by every model of the lesson.</summary>
    /// <param name="Act">Activation factory; null means the lesson's GeneralRelu(leak 0.1, sub 0.4).</param>
    /// <param name="NotebookBias">Keep conv biases before BatchNorm, as the notebooks do (see the type's remarks).</param>
    /// <param name="Dropout">Dropout probability before the head (and Dropout2d after the stem), 0 for none (lesson 18's get_dropmodel).</param>
    /// <param name="ZeroInitResidual">Zero each ResBlock's last BatchNorm weight so every block starts as the identity map.</param>
    /// <param name="Generator">Random generator for the initial weights (the default generator when null).</param>
    public sealed record Options(Func<Module>? Act = null, bool NotebookBias = true, double Dropout = 0, bool ZeroInitResidual = true,
        Generator? Generator = null)
    {
        /// <summary>A new activation module.</summary>
        public Module NewAct() => Act?.Invoke() ?? new GeneralRelu(0.1f, 0.4f);
    }

    /// <summary>Names accepted by <see cref="Create"/>, with a one-line description each.</summary>
    public static IReadOnlyDictionary<string, string> Catalog { get; } = new Dictionary<string, string>
    {
        ["cnn"] = "baseline CNN: conv 1->8->16->32->64 (stride 2, BatchNorm, GeneralRelu), conv 64->10, flatten (lesson: 90.6% in 5 epochs)",
        ["deeper"] = "deeper CNN: conv 1->8 stride 1, then 8->16->32->64->128 stride 2, conv 128->10 (lesson: 91.7%)",
        ["resnet"] = "ResNet: ResBlocks 1->8->16->32->64->128->256, flatten, linear 256->10, BatchNorm1d (lesson: 92.2%)",
        ["wider"] = "wider ResNet: ResBlock(1,16,ks 5), 16->32->64->128->256->512, flatten, linear 512->10 (lesson: 92.7%)",
        ["model2"] = "get_model2: wider ResNet to 256, ResBlock(256,512), global average pool, linear 512->10 (4,907,588 params)",
        ["model3"] = "get_model3: get_model2 without the 512 block, linear 256->10 (1,231,428 params)",
        ["model4"] = "get_model4: get_model3 with a single conv(1,16,ks 5) stem (1,224,948 params; lesson: 92.6%, 93.8% with augmentation)",
    };

    /// <summary>The model called name in <see cref="Catalog"/>, initialised (Kaiming normal a = 0.1 on convs and linears).</summary>
    public static Sequential Create(string name, Options? options = null)
    {
        options ??= new Options();
        var model = name switch
        {
            "cnn" => Cnn(options),
            "deeper" => DeeperCnn(options),
            "resnet" => ResNet(options),
            "wider" => WiderResNet(options),
            "model2" => GapResNet(options, stemResBlock: true, block512: true),
            "model3" => GapResNet(options, stemResBlock: true, block512: false),
            "model4" => GapResNet(options, stemResBlock: false, block512: false),
            _ => throw new ArgumentException($"FashionModels.Create: unknown model '{name}'; known: {string.Join(", ", Catalog.Keys)}"),
        };
        Initialize(model, options);
        return model;
    }

    /// <summary>
    /// Lesson 18's conv(ni, nf, ks, stride, act, norm, bias): Conv2d(padding ks/2) -> norm(nf) -> act(), as a Sequential
    /// (named 0, 1, 2 like the notebook's nn.Sequential). act null means no activation; bias null means "no norm".
    /// </summary>
    public static Sequential Conv(int ni, int nf, int ks = 3, int stride = 2, Func<Module>? act = null, Func<int, Module>? norm = null,
        bool? bias = null, Generator? generator = null)
    {
        var layers = new Sequential(new Conv2d(ni, nf, ks, stride, ks / 2, bias: bias ?? norm == null, generator: generator));
        if (norm != null) layers.Add(norm(nf));
        if (act != null) layers.Add(act());
        return layers;
    }

    static Func<int, Module> BatchNorm => n => new BatchNorm2d(n);

    static Sequential ConvLayer(Options o, int ni, int nf, int ks = 3, int stride = 2, bool act = true, bool norm = true) =>
        Conv(ni, nf, ks, stride, act ? o.NewAct : null, norm ? BatchNorm : null, bias: norm && o.NotebookBias ? true : null, o.Generator);

    static Sequential Cnn(Options o)
    {
        int[] nfs = [1, 8, 16, 32, 64];
        var model = new Sequential();
        for (int i = 0; i < nfs.Length - 1; i++) model.Add(ConvLayer(o, nfs[i], nfs[i + 1]));
        model.Add(ConvLayer(o, 64, 10, act: false, norm: false));
        model.Add(new Flatten());
        return model;
    }

    static Sequential DeeperCnn(Options o)
    {
        int[] nfs = [8, 16, 32, 64, 128];
        var model = new Sequential(ConvLayer(o, 1, 8, stride: 1));
        for (int i = 0; i < nfs.Length - 1; i++) model.Add(ConvLayer(o, nfs[i], nfs[i + 1]));
        model.Add(ConvLayer(o, 128, 10, act: false));
        model.Add(new Flatten());
        return model;
    }

    static Sequential ResNet(Options o)
    {
        int[] nfs = [8, 16, 32, 64, 128, 256];
        var model = new Sequential(new ResBlock(1, 8, o, stride: 1));
        for (int i = 0; i < nfs.Length - 1; i++) model.Add(new ResBlock(nfs[i], nfs[i + 1], o, stride: 2));
        return Head(model, o, 256, flatten: true);
    }

    static Sequential WiderResNet(Options o)
    {
        int[] nfs = [16, 32, 64, 128, 256, 512];
        var model = new Sequential(new ResBlock(1, 16, o, stride: 1, ks: 5));
        for (int i = 0; i < nfs.Length - 1; i++) model.Add(new ResBlock(nfs[i], nfs[i + 1], o, stride: 2));
        return Head(model, o, 512, flatten: true);
    }

    static Sequential GapResNet(Options o, bool stemResBlock, bool block512)
    {
        int[] nfs = [16, 32, 64, 128, 256];
        var model = new Sequential(stemResBlock ? new ResBlock(1, 16, o, stride: 1, ks: 5) : ConvLayer(o, 1, 16, ks: 5, stride: 1));
        if (o.Dropout > 0) model.Add(new Dropout2d((float)o.Dropout));
        for (int i = 0; i < nfs.Length - 1; i++) model.Add(new ResBlock(nfs[i], nfs[i + 1], o, stride: 2));
        if (block512) model.Add(new ResBlock(256, 512, o, stride: 1));
        return Head(model, o, block512 ? 512 : 256, flatten: false);
    }

    // Flatten (or global average pool), [dropout], Linear(nf, 10, no bias), BatchNorm1d(10).
    static Sequential Head(Sequential model, Options o, int nf, bool flatten)
    {
        model.Add(flatten ? new Flatten() : new GlobalAvgPool2d(flatten: true));
        if (o.Dropout > 0 && !flatten) model.Add(new Dropout((float)o.Dropout));
        model.Add(new Linear(nf, 10, bias: false, generator: o.Generator));
        model.Add(new BatchNorm1d(10));
        return model;
    }

    // The notebooks' init_weights with leaky = 0.1 on every conv and linear; then, optionally, each ResBlock's last
    // BatchNorm weight to zero (the block's residual branch starts silent).
    static void Initialize(Module model, Options o)
    {
        model.Apply(m =>
        {
            if (m is Conv2d c) Init.KaimingNormal(c.Weight, a: 0.1f, generator: o.Generator);
            else if (m is Linear l) Init.KaimingNormal(l.Weight, a: 0.1f, generator: o.Generator);
        });
        if (o.ZeroInitResidual)
            model.Apply(m => { if (m is ResBlock r && r.LastNorm?.Weight is { } w) Init.Zeros(w); });
    }
}

/// <summary>
/// Lesson 18's ResBlock(ni, nf, stride, ks): convs = conv(ni, nf, stride 1, act) then conv(nf, nf, stride, no act);
/// shortcut = identity, or a 1x1 conv when channels change, after AvgPool2d(2, ceil mode) when stride is 2;
/// output = act(convs(x) + shortcut(x)).
/// </summary>
public sealed class ResBlock : Module
{
    readonly Sequential _convs;
    readonly Module? _idconv, _pool;
    readonly Module _act;

    /// <summary>The second conv's BatchNorm (zero-initialised so the block starts as the identity), or null without norm.</summary>
    public BatchNormBase? LastNorm { get; }

    /// <summary>A residual block from ni to nf channels; stride 2 halves the resolution (rounding up).</summary>
    public ResBlock(int ni, int nf, FashionModels.Options options, int stride = 1, int ks = 3)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (stride is not (1 or 2)) throw new ArgumentException($"ResBlock: stride must be 1 or 2, got {stride}");
        Func<int, Module> bn = n => new BatchNorm2d(n);
        bool? bias = options.NotebookBias ? true : null;
        var second = FashionModels.Conv(nf, nf, ks, stride, null, bn, bias, options.Generator);
        _convs = RegisterModule("convs", new Sequential(
            FashionModels.Conv(ni, nf, ks, 1, options.NewAct, bn, bias, options.Generator), second));
        LastNorm = (BatchNormBase)second[1];
        if (ni != nf) _idconv = RegisterModule("idconv", FashionModels.Conv(ni, nf, 1, 1, null, null, null, options.Generator));
        if (stride != 1) _pool = RegisterModule("pool", new AvgPool2d(2, ceilMode: true));
        _act = RegisterModule("act", options.NewAct());
    }

    /// <summary>act(convs(x) + idconv(pool(x))).</summary>
    public override Tensor Forward(Tensor x)
    {
        var shortcut = x;
        if (_pool != null) shortcut = _pool.Call(shortcut);
        if (_idconv != null) shortcut = _idconv.Call(shortcut);
        return _act.Call(_convs.Call(x) + shortcut);
    }
}
