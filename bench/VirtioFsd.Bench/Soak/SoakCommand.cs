using VirtioFsd.Bench.Client;

namespace VirtioFsd.Bench.Soak;

/// <summary>`virtiofsd-bench --soak SECONDS`: runs the soak and writes the report (or prints it).</summary>
public static class SoakCommand
{
    public static int Run(BenchOptions options)
    {
        try
        {
            SoakResult result = SoakRun.Execute(options, Console.Out);
            if (options.Svg is not null)
            {
                File.WriteAllText(options.Svg, SoakReport.RenderSvg(result));
            }
            if (options.Report is not null)
            {
                string? svgName = options.Svg is null ? null
                    : Path.GetRelativePath(Path.GetDirectoryName(Path.GetFullPath(options.Report))!, Path.GetFullPath(options.Svg));
                SoakReport.Write(options.Report, result, svgName);
            }
            else
            {
                Console.Out.Write(SoakReport.Render(result, null));
            }
            // A soak whose daemon kept descriptors after the load is a failed soak.
            return result.FdsBack ? 0 : 3;
        }
        catch (BenchException e)
        {
            Console.Error.WriteLine($"soak failed: {e.Message}");
            return 1;
        }
    }
}
