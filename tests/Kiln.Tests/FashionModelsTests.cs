using Kiln.Models;
using Kiln.Nn;

namespace Kiln.Tests;

public class FashionModelsTests
{
    static long Count(Module m) => m.Parameters().Sum(p => (long)p.Numel);

    [Theory]
    // The digest's ResNet figure, 1,226,892, is 2,016 below what this structure (the one that gives get_model2/3/4's
    // exact counts) yields; 2,016 = 4 x (8+16+32+64+128+256), i.e. two per-channel vectors per conv of every block.
    [InlineData("resnet", 1_228_908)]
    [InlineData("model2", 4_907_588)]
    [InlineData("model3", 1_231_428)]
    [InlineData("model4", 1_224_948)]
    public void Parameter_counts_are_the_lessons(string name, long expected) =>
        Assert.Equal(expected, Count(FashionModels.Create(name)));

    [Fact]
    public void Without_the_notebooks_bias_the_convs_before_batchnorm_lose_their_bias()
    {
        var withBias = FashionModels.Create("resnet");
        var without = FashionModels.Create("resnet", new FashionModels.Options(NotebookBias: false));
        // Every ResBlock has two normed convs; the stem's first block alone loses 8 + 8 biases.
        long convBiases = withBias.NamedModules().Select(m => m.Module).OfType<Conv2d>()
            .Zip(without.NamedModules().Select(m => m.Module).OfType<Conv2d>())
            .Sum(p => (p.First.Bias is null ? 0 : p.First.Bias.Numel) - (p.Second.Bias is null ? 0 : p.Second.Bias.Numel));
        Assert.Equal(convBiases, Count(withBias) - Count(without));
        Assert.True(convBiases > 0);
    }

    [Theory]
    [InlineData("cnn")]
    [InlineData("deeper")]
    [InlineData("resnet")]
    [InlineData("wider")]
    [InlineData("model2")]
    [InlineData("model3")]
    [InlineData("model4")]
    public void Every_model_maps_a_batch_of_images_to_ten_logits(string name)
    {
        Tensor.ManualSeed(1);
        var model = FashionModels.Create(name);
        var y = model.Call(Tensor.Randn(3, 1, 28, 28));
        Assert.Equal([3, 10], y.Shape);
        Assert.All(y.ToArray(), v => Assert.True(float.IsFinite(v)));
        model.Eval();
        Assert.Equal([1, 10], model.Call(Tensor.Randn(1, 1, 28, 28)).Shape);
    }

    [Fact]
    public void State_dict_keys_follow_the_notebooks_module_names()
    {
        var keys = FashionModels.Create("model4").StateDict().Keys.ToList();
        Assert.Contains("0.0.weight", keys);             // stem conv
        Assert.Contains("0.1.running_mean", keys);       // its BatchNorm
        Assert.Contains("1.convs.0.0.weight", keys);     // first ResBlock, first conv
        Assert.Contains("1.convs.1.1.weight", keys);     // its second conv's BatchNorm
        Assert.Contains("1.idconv.0.weight", keys);      // 1x1 shortcut (16 -> 32)
        Assert.Contains("6.weight", keys);               // Linear(256, 10) after the pool (index 5)
        Assert.Contains("7.running_var", keys);          // BatchNorm1d(10)
    }

    [Fact]
    public void A_zero_initialised_resblock_starts_as_act_of_its_shortcut()
    {
        Tensor.ManualSeed(2);
        var o = new FashionModels.Options();
        var block = new ResBlock(4, 4, o, stride: 1);
        Assert.NotNull(block.LastNorm);
        Init.Zeros(block.LastNorm!.Weight!);
        var x = Tensor.Randn(2, 4, 5, 5);
        var expected = F.GeneralRelu(x, 0.1f, 0.4f, null);
        Assert.Equal(expected.ToArray(), block.Call(x).ToArray());
    }

    [Fact]
    public void A_strided_resblock_pools_and_projects_its_shortcut_and_passes_gradient_checks()
    {
        Tensor.ManualSeed(3);
        var block = new ResBlock(2, 3, new FashionModels.Options(ZeroInitResidual: false), stride: 2);
        var x = Tensor.Randn(2, 2, 5, 5);
        Assert.Equal([2, 3, 3, 3], block.Call(x).Shape);
        GradCheck.Assert(t => block.Call(t[0]).Square().Sum(), x.RequiresGradInPlace());
    }

    [Fact]
    public void Unknown_names_are_refused_with_the_known_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => FashionModels.Create("vgg"));
        Assert.Contains("model4", e.Message);
    }

    [Theory]
    [InlineData("model2", 4_907_588, 33.0)]
    [InlineData("model3", 1_231_428, 18.3)]
    [InlineData("model4", 1_224_948, 13.3)]
    public void Summary_gives_lesson_18s_parameters_and_mflops(string name, long parameters, double mflops)
    {
        var s = global::Kiln.Learn.Summaries.Summary(FashionModels.Create(name), Tensor.Zeros(1, 1, 28, 28));
        Assert.Equal(parameters, s.TotalParams);
        Assert.Equal(mflops, Math.Round(s.TotalMFlops, 1));
    }
}
