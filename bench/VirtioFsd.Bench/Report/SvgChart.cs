using System.Globalization;
using System.Security;
using System.Text;
using VirtioFsd.Bench.Daemons;
using VirtioFsd.Bench.Workloads;

namespace VirtioFsd.Bench.Report;

/// <summary>
/// A grouped bar chart, written as plain SVG: per workload one bar per configuration, ops/s normalised to
/// the best C configuration of that workload (the dashed line at 1.0), with the value printed on each bar.
/// </summary>
public static class SvgChart
{
    private const int Left = 210, Top = 40, BarHeight = 12, GroupGap = 14, Width = 820, PlotWidth = 520;
    private static readonly string[] Colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];

    public static string Render(Summary s, string peer = "C")
    {
        List<DaemonConfig> configs = s.Results.Configs.Where(c => !s.Results.Failures.ContainsKey(c.Label)).ToList();
        List<Workload> workloads = s.Results.Workloads;
        double max = 1.0;
        foreach (Workload w in workloads)
        {
            foreach (DaemonConfig c in configs)
            {
                double v = Normalised(s, c.Label, w.Name);
                if (!double.IsNaN(v))
                {
                    max = Math.Max(max, v);
                }
            }
        }
        max = Math.Ceiling(max * 2) / 2;
        int groupHeight = (configs.Count * BarHeight) + GroupGap;
        int height = Top + (workloads.Count * groupHeight) + 40 + (configs.Count * 16);
        var sb = new StringBuilder();
        sb.Append(Inv($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n"));
        sb.Append(Inv($"<rect width=\"{Width}\" height=\"{height}\" fill=\"white\"/>\n"));
        sb.Append(Inv($"<text x=\"{Left}\" y=\"20\" font-size=\"14\">ops/s relative to the best {peer} virtiofsd configuration (1.0 = {peer})</text>\n"));
        double X(double v) => Left + (v / max * PlotWidth);
        int plotBottom = Top + (workloads.Count * groupHeight);
        for (double t = 0; t <= max + 1e-9; t += 0.5)
        {
            sb.Append(Inv($"<line x1=\"{X(t):F1}\" y1=\"{Top - 5}\" x2=\"{X(t):F1}\" y2=\"{plotBottom}\" stroke=\"#ddd\"/>\n"));
            sb.Append(Inv($"<text x=\"{X(t):F1}\" y=\"{plotBottom + 14}\" text-anchor=\"middle\">{t:F1}</text>\n"));
        }
        for (int wi = 0; wi < workloads.Count; wi++)
        {
            int y0 = Top + (wi * groupHeight);
            sb.Append(Inv($"<text x=\"{Left - 6}\" y=\"{y0 + (configs.Count * BarHeight / 2) + 4}\" text-anchor=\"end\">{SecurityElement.Escape(workloads[wi].Name)}</text>\n"));
            for (int ci = 0; ci < configs.Count; ci++)
            {
                double v = Normalised(s, configs[ci].Label, workloads[wi].Name);
                if (double.IsNaN(v))
                {
                    continue;
                }
                int y = y0 + (ci * BarHeight);
                sb.Append(Inv($"<rect x=\"{Left}\" y=\"{y}\" width=\"{X(v) - Left:F1}\" height=\"{BarHeight - 2}\" fill=\"{Colors[ci % Colors.Length]}\"/>\n"));
                sb.Append(Inv($"<text x=\"{X(v) + 3:F1}\" y=\"{y + BarHeight - 3}\" font-size=\"9\">{v:F2}</text>\n"));
            }
        }
        sb.Append(Inv($"<line x1=\"{X(1):F1}\" y1=\"{Top - 5}\" x2=\"{X(1):F1}\" y2=\"{plotBottom}\" stroke=\"black\" stroke-dasharray=\"4,3\"/>\n"));
        for (int ci = 0; ci < configs.Count; ci++)
        {
            int y = plotBottom + 28 + (ci * 16);
            sb.Append(Inv($"<rect x=\"{Left}\" y=\"{y - 10}\" width=\"12\" height=\"10\" fill=\"{Colors[ci % Colors.Length]}\"/>\n"));
            sb.Append(Inv($"<text x=\"{Left + 18}\" y=\"{y}\">{SecurityElement.Escape(configs[ci].Label)}</text>\n"));
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    /// <summary>ops/s of <paramref name="config"/> over the best C ops/s (over ours 1q when no C ran).</summary>
    private static double Normalised(Summary s, string config, string workload)
    {
        Cell? c = s.Get(config, workload);
        double reference = s.BestC(workload)?.OpsPerSecond ?? s.Get(s.OursConfigs.First().Label, workload)?.OpsPerSecond ?? 0;
        return c is null || reference == 0 ? double.NaN : c.OpsPerSecond / reference;
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
