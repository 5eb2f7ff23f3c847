#:project ../src/Kiln/Kiln.csproj
// Lesson 18's optimizer spreadsheet in C#: fit y = 2x + 30 online (batch size 1, starting at a = b = 1) with SGD,
// momentum, RMSProp, Adam and "Adam with annealing", printing the error per epoch.
// Run: dotnet run examples/lesson18-spreadsheet.cs [epochs]   (default 50)
using Kiln.Lessons;

int epochs = args.Length > 0 ? int.Parse(args[0]) : 50;
OptimizerSpreadsheet.Print(Console.Out, epochs);
