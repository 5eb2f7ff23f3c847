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
        foreach (var c in ModelCommands.Create()) root.Subcommands.Add(c);
        root.Subcommands.Add(BenchCommand.Create());
        try
        {
            return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or InvalidDataException
                                   or UnauthorizedAccessException or System.Net.Http.HttpRequestException)
        {
            // One line (the first of the message) that says what is wrong and what to do; no stack trace.
            Console.Error.WriteLine($"kiln: {e.Message.Split('\n')[0].TrimEnd()}");
            return 1;
        }
    }
}
