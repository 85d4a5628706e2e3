using System.Globalization;

namespace VirtioFsd.Cli;

/// <summary>
/// One line of a user namespace's uid_map or gid_map, from <c>--uid-map</c>/<c>--gid-map</c>: <see cref="Count"/>
/// ids from <see cref="Outside"/> on the host appear as <see cref="Inside"/>... in the namespace. The text form
/// is the Rust virtiofsd's: three numbers between a delimiter that also starts and ends the value, e.g.
/// <c>:0:100000:65536:</c> (libvirt's session mode passes <c>--uid-map=:0:UID:1: --uid-map=:1:SUBUID:COUNT:</c>).
/// </summary>
public readonly record struct IdMapRange(uint Inside, uint Outside, uint Count)
{
    /// <summary>Parses one value; null with <paramref name="error"/> saying what is wrong.</summary>
    public static IdMapRange? Parse(string text, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        error = null;
        if (text.Length < 2 || char.IsLetterOrDigit(text[^1]) || text[0] != text[^1])
        {
            error = "expected :INSIDE:OUTSIDE:COUNT: (any one non-alphanumeric delimiter, also first and last)";
            return null;
        }
        string[] fields = text[1..^1].Split(text[^1]);
        if (fields.Length != 3)
        {
            error = "expected three numbers: inside id, outside id, count";
            return null;
        }
        var values = new uint[3];
        for (int i = 0; i < 3; i++)
        {
            if (!uint.TryParse(fields[i], NumberStyles.None, CultureInfo.InvariantCulture, out values[i]))
            {
                error = $"'{fields[i]}' is not an id";
                return null;
            }
        }
        if (values[2] == 0)
        {
            error = "the count must not be 0";
            return null;
        }
        // uid_map(5): neither range may wrap; (uid_t)-1 is never a valid id.
        if ((ulong)values[0] + values[2] > uint.MaxValue || (ulong)values[1] + values[2] > uint.MaxValue)
        {
            error = "the range runs past the last id";
            return null;
        }
        return new IdMapRange(values[0], values[1], values[2]);
    }

    /// <summary>The line as /proc/PID/uid_map and newuidmap(1) take it: inside, outside, count.</summary>
    public string MapLine => string.Create(CultureInfo.InvariantCulture, $"{Inside} {Outside} {Count}");

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $":{Inside}:{Outside}:{Count}:");
}
