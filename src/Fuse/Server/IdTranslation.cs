using System.Globalization;

namespace VirtioFsd.Fuse.Server;

/// <summary>The rule types of virtiofsd's --translate-uid / --translate-gid.</summary>
public enum IdRuleKind
{
    /// <summary>guest:GUEST:HOST:COUNT: guest ids of the range act as the host ids (guest to host only).</summary>
    Guest,

    /// <summary>host:HOST:GUEST:COUNT: host ids of the range appear as the guest ids (host to guest only).</summary>
    Host,

    /// <summary>squash-guest:GUEST:HOST:COUNT: every guest id of the range acts as the one host id.</summary>
    SquashGuest,

    /// <summary>squash-host:HOST:GUEST:COUNT: every host id of the range appears as the one guest id.</summary>
    SquashHost,

    /// <summary>forbid-guest:GUEST:COUNT: a guest id of the range may not create a file nor be given to one (EPERM).</summary>
    ForbidGuest,

    /// <summary>map:GUEST:HOST:COUNT: the ranges map onto each other both ways.</summary>
    Map,
}

/// <summary>One --translate-uid/--translate-gid rule: ids [Source, Source + Count) and where they go.</summary>
public readonly record struct IdRule(IdRuleKind Kind, uint Source, uint Target, uint Count)
{
    private bool Covers(uint id) => id >= Source && id - Source < Count;

    /// <summary>Parses "type:source:target:count" ("forbid-guest:base:count"); null with an error message if malformed.</summary>
    public static IdRule? Parse(string text, out string? error)
    {
        error = null;
        string[] f = text.Split(':');
        IdRuleKind? kind = f[0] switch
        {
            "guest" => IdRuleKind.Guest,
            "host" => IdRuleKind.Host,
            "squash-guest" => IdRuleKind.SquashGuest,
            "squash-host" => IdRuleKind.SquashHost,
            "forbid-guest" => IdRuleKind.ForbidGuest,
            "map" => IdRuleKind.Map,
            _ => null,
        };
        if (kind is null)
        {
            error = $"unknown type '{f[0]}' (expected guest, host, squash-guest, squash-host, forbid-guest or map)";
            return null;
        }
        int fields = kind == IdRuleKind.ForbidGuest ? 3 : 4;
        var numbers = new uint[fields - 1];
        bool wellFormed = f.Length == fields;
        for (int i = 0; wellFormed && i < numbers.Length; i++)
        {
            wellFormed = uint.TryParse(f[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out numbers[i]);
        }
        if (!wellFormed)
        {
            error = kind == IdRuleKind.ForbidGuest ? "expected forbid-guest:<base>:<count>" : $"expected {f[0]}:<source base>:<target base>:<count>";
            return null;
        }
        uint count = numbers[^1];
        uint source = numbers[0];
        uint target = fields == 4 ? numbers[1] : 0;
        if (count == 0 || (ulong)source + count > 1UL << 32 || (fields == 4 && kind is not (IdRuleKind.SquashGuest or IdRuleKind.SquashHost)
            && (ulong)target + count > 1UL << 32))
        {
            error = "the range is empty or runs past 2^32";
            return null;
        }
        return new IdRule(kind.Value, source, target, count);
    }

    /// <summary>Guest to host: whether the rule decides <paramref name="id"/>, and how.</summary>
    internal bool ToHost(uint id, out uint host, out bool forbidden)
    {
        host = id;
        forbidden = false;
        switch (Kind)
        {
            case IdRuleKind.Guest or IdRuleKind.Map when Covers(id):
                host = Target + (id - Source);
                return true;
            case IdRuleKind.SquashGuest when Covers(id):
                host = Target;
                return true;
            case IdRuleKind.ForbidGuest when Covers(id):
                forbidden = true;
                return true;
            default:
                return false;
        }
    }

    /// <summary>Host to guest: whether the rule decides <paramref name="id"/>, and how.</summary>
    internal bool ToGuest(uint id, out uint guest)
    {
        guest = id;
        switch (Kind)
        {
            case IdRuleKind.Host when Covers(id):
                guest = Target + (id - Source);
                return true;
            case IdRuleKind.SquashHost when Covers(id):
                guest = Target;
                return true;
            case IdRuleKind.Map when id >= Target && id - Target < Count:
                guest = Source + (id - Target);
                return true;
            default:
                return false;
        }
    }
}

/// <summary>
/// virtiofsd's --translate-uid / --translate-gid for one kind of id, applied by the server at the FUSE boundary: the
/// caller's ids and SETATTR's new owner go guest to host, the attributes of every reply host to guest. The first
/// rule that covers an id decides; an id no rule covers is the same on both sides.
/// </summary>
public sealed class IdTranslation
{
    public static readonly IdTranslation Identity = new([]);

    private readonly IdRule[] _rules;

    public IdTranslation(IEnumerable<IdRule> rules) => _rules = [.. rules];

    public bool IsIdentity => _rules.Length == 0;

    /// <summary>The rules in the order given (the first that covers an id decides).</summary>
    public IReadOnlyList<IdRule> Rules => _rules;

    /// <summary>The host id a guest id acts as; false if the guest id is forbidden (forbid-guest).</summary>
    public bool ToHost(uint guestId, out uint hostId)
    {
        foreach (IdRule r in _rules)
        {
            if (r.ToHost(guestId, out hostId, out bool forbidden))
            {
                return !forbidden;
            }
        }
        hostId = guestId;
        return true;
    }

    /// <summary>The guest id a host id appears as.</summary>
    public uint ToGuest(uint hostId)
    {
        foreach (IdRule r in _rules)
        {
            if (r.ToGuest(hostId, out uint guest))
            {
                return guest;
            }
        }
        return hostId;
    }
}
