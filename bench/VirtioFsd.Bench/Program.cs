using System.Text.Json;
using VirtioFsd.Bench;
using VirtioFsd.Bench.Client;
using VirtioFsd.Bench.Report;

// The daemon-level benchmark: our virtiofsd against the C one, alternating, several rounds; prints
// progress, then writes the markdown tables and the SVG chart (see docs/benchmark.md).
BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (Exception e) when (e is ArgumentException or FormatException)
{
    Console.Error.WriteLine(e.Message);
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}
if (options.InodeScale > 0)
{
    return VirtioFsd.Bench.InodeScale.InodeScaleCommand.Run(options);
}
if (options.Footprint)
{
    return VirtioFsd.Bench.Footprint.FootprintCommand.Run(options);
}
if (options.SoakSeconds > 0)
{
    return VirtioFsd.Bench.Soak.SoakCommand.Run(options);
}
try
{
    BenchResults results = BenchRun.Execute(options, Console.Out);
    var summary = new Summary(results);
    var machine = MachineInfo.Collect(options.Rust ?? options.CDaemon);
    if (options.Svg is not null)
    {
        File.WriteAllText(options.Svg, SvgChart.Render(summary, options.PeerName));
    }
    if (options.Report is not null)
    {
        string? svgName = options.Svg is null ? null : Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(options.Report))!, Path.GetFullPath(options.Svg));
        MarkdownReport.Write(options.Report, summary, machine, options, svgName);
    }
    else
    {
        Console.Out.Write(MarkdownReport.Render(summary, machine, options, null));
    }
    if (options.Json is not null)
    {
        File.WriteAllText(options.Json, JsonSerializer.Serialize(results.Measurements));
    }
    return 0;
}
catch (BenchException e)
{
    Console.Error.WriteLine($"benchmark failed: {e.Message}");
    return 1;
}
