using System.CommandLine;
using Kiln.Cli.Commands;

namespace Kiln.Cli;

/// <summary>Entry point of the `kiln` command.</summary>
public static class Program
{
    /// <summary>Parses the command line and runs the chosen command.</summary>
    public static int Main(string[] args)
    {
        var root = new RootCommand("Kiln: deep learning from the foundations, in C#.");
        root.Subcommands.Add(MatMulCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        try
        {
            return root.Parse(args).Invoke();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            Console.Error.WriteLine($"kiln: {e.Message}");
            return 1;
        }
    }
}
