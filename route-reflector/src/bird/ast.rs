//! The parsed configuration: what the files say, with the position of everything that the
//! mapping may have to refuse. Names are resolved while parsing (BIRD reads its files in
//! one pass: a filter, function or template is defined before it is used).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ipnet::IpNet;

use super::source::Span;

/// A whole configuration: the main file with its includes in place.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub router_id: Option<(Ipv4Addr, Span)>,
    pub listen: Option<Listen>,
    pub filters: Vec<Arc<FilterDef>>,
    pub functions: Vec<Arc<FunctionDef>>,
    /// Protocols and templates, in the order of the files.
    pub protocols: Vec<ProtocolDef>,
}

/// `listen bgp [address A] [port P];`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub address: Option<IpAddr>,
    pub port: Option<u16>,
    pub span: Span,
}

/// A value known when the configuration is read (`define`, literals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Const {
    Int(u32),
    Bool(bool),
    Str(String),
    Ip(IpAddr),
    Prefix(IpNet),
    /// A standard community or any pair `(a, b)`.
    Pair(u32, u32),
    /// A large community `(a, b, c)`.
    Triple(u32, u32, u32),
    /// A router ID or other dotted quad in an IPv6 configuration.
    Quad(Ipv4Addr),
    Enum(EnumConst),
}

/// Named constants of BIRD's filter language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnumConst {
    /// `RTS_*`: where a route comes from.
    Source(RouteSource),
    /// `ORIGIN_*`.
    Origin(bgp_core::wire::attributes::Origin),
}

/// `RTS_*` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteSource {
    Dummy,
    Static,
    Inherit,
    Device,
    StaticDevice,
    Redirect,
    Rip,
    Ospf,
    OspfIa,
    OspfExt1,
    OspfExt2,
    Bgp,
    Pipe,
    Babel,
}

impl RouteSource {
    pub const ALL: [(&'static str, RouteSource); 14] = [
        ("RTS_DUMMY", RouteSource::Dummy),
        ("RTS_STATIC", RouteSource::Static),
        ("RTS_INHERIT", RouteSource::Inherit),
        ("RTS_DEVICE", RouteSource::Device),
        ("RTS_STATIC_DEVICE", RouteSource::StaticDevice),
        ("RTS_REDIRECT", RouteSource::Redirect),
        ("RTS_RIP", RouteSource::Rip),
        ("RTS_OSPF", RouteSource::Ospf),
        ("RTS_OSPF_IA", RouteSource::OspfIa),
        ("RTS_OSPF_EXT1", RouteSource::OspfExt1),
        ("RTS_OSPF_EXT2", RouteSource::OspfExt2),
        ("RTS_BGP", RouteSource::Bgp),
        ("RTS_PIPE", RouteSource::Pipe),
        ("RTS_BABEL", RouteSource::Babel),
    ];
}

/// The type of a function parameter or local variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Int,
    Bool,
    Ip,
    Prefix,
    Pair,
    Quad,
    Lc,
    String,
    BgpMask,
    BgpPath,
    Clist,
    Lclist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decl {
    pub ty: Type,
    pub name: String,
    pub span: Span,
}

/// `filter NAME [decls] { ... }`, also an inline `filter { ... }` or `where COND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterDef {
    /// None for an inline filter.
    pub name: Option<String>,
    pub locals: Vec<Decl>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// `function NAME(params) [decls] { ... }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDef {
    pub name: String,
    pub params: Vec<Decl>,
    pub locals: Vec<Decl>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

/// Route attributes the filters read or write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attr {
    Net,
    Source,
    Proto,
    Ifname,
    From,
    Gw,
    BgpPath,
    BgpLocalPref,
    BgpMed,
    BgpOrigin,
    BgpNextHop,
    BgpCommunity,
    BgpLargeCommunity,
    KrtMetric,
    KrtTunnel,
}

impl Attr {
    pub const ALL: [(&'static str, Attr); 15] = [
        ("net", Attr::Net),
        ("source", Attr::Source),
        ("proto", Attr::Proto),
        ("ifname", Attr::Ifname),
        ("from", Attr::From),
        ("gw", Attr::Gw),
        ("bgp_path", Attr::BgpPath),
        ("bgp_local_pref", Attr::BgpLocalPref),
        ("bgp_med", Attr::BgpMed),
        ("bgp_origin", Attr::BgpOrigin),
        ("bgp_next_hop", Attr::BgpNextHop),
        ("bgp_community", Attr::BgpCommunity),
        ("bgp_large_community", Attr::BgpLargeCommunity),
        ("krt_metric", Attr::KrtMetric),
        ("krt_tunnel", Attr::KrtTunnel),
    ];

    pub fn name(self) -> &'static str {
        Attr::ALL
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("?", |(n, _)| n)
    }

    /// Attributes a filter may assign (the others belong to the route itself).
    pub fn writable(self) -> bool {
        !matches!(
            self,
            Attr::Net | Attr::Source | Attr::Proto | Attr::Ifname | Attr::From
        )
    }
}

/// An entry of a prefix set: `P`, `P+`, `P-` or `P{a,b}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixPattern {
    pub prefix: IpNet,
    /// Lengths matched, inclusive.
    pub low: u8,
    pub high: u8,
}

/// An entry of a set of other values: one value or a range `a..b`; pair and large
/// community entries may have `*` parts (`None` bounds: anything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetItem {
    One(Const),
    Range(Const, Const),
    /// `(a..b, c..d)`.
    Pair([(u32, u32); 2]),
    /// `(a..b, c..d, e..f)`.
    Triple([(u32, u32); 3]),
}

/// An element of an AS-path mask `[= ... =]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskItem {
    Asn(u32),
    Range(u32, u32),
    /// `*`: any number of ASes.
    Any,
    /// `?`: exactly one AS.
    One,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Match,
    NotMatch,
}

/// `.len` and friends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Len,
    Ip,
    Mask(Box<Expr>),
    First,
    Last,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprKind {
    Const(Const),
    PrefixSet(Vec<PrefixPattern>),
    Set(Vec<SetItem>),
    PathMask(Vec<MaskItem>),
    /// `(a, b)` or `(a, b, c)` of computed parts.
    Tuple(Vec<Expr>),
    /// A parameter or local variable (by name; the function's frame holds its value).
    Var(String),
    Attr(Attr),
    /// BIRD's route preference.
    Preference,
    Not(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Defined(Box<Expr>),
    Field(Box<Expr>, Field),
    Call(Arc<FunctionDef>, Vec<Expr>),
}

/// What an assignment writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Var(String),
    Attr(Attr),
    Preference,
}

/// `.add`, `.delete`, `.prepend` on a list attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Add,
    Delete,
    Prepend,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StmtKind {
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Option<Vec<Stmt>>,
    },
    Accept,
    Reject,
    /// `return EXPR;`: leaves the function (or the filter: a reject).
    Return(Expr),
    /// `print`/`printn`: output only; dropped (see `super::compile`).
    Print(Vec<Expr>),
    Assign(Target, Expr),
    Unset(Attr),
    Method(Attr, Method, Expr),
    Call(Arc<FunctionDef>, Vec<Expr>),
}

/// A protocol's import or export setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterRef {
    All,
    None,
    Named(Arc<FilterDef>),
    /// `filter { ... }` or `where COND`.
    Inline(Arc<FilterDef>),
}

impl FilterRef {
    pub fn name(&self) -> Option<&str> {
        match self {
            FilterRef::Named(f) => f.name.as_deref(),
            _ => None,
        }
    }
}

/// The kinds of protocol the Calico files use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtoKind {
    Bgp,
    Kernel,
    Device,
    Direct,
    Static,
}

impl ProtoKind {
    /// The keyword after `protocol`.
    pub fn keyword(self) -> &'static str {
        match self {
            ProtoKind::Bgp => "bgp",
            ProtoKind::Kernel => "kernel",
            ProtoKind::Device => "device",
            ProtoKind::Direct => "direct",
            ProtoKind::Static => "static",
        }
    }

    /// How `birdc show protocols` names the kind.
    pub fn bird_name(self) -> &'static str {
        match self {
            ProtoKind::Bgp => "BGP",
            ProtoKind::Kernel => "Kernel",
            ProtoKind::Device => "Device",
            ProtoKind::Direct => "Direct",
            ProtoKind::Static => "Static",
        }
    }
}

/// `protocol KIND [NAME] [from NAME] { ... }` or `template KIND NAME ... { ... }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolDef {
    pub template: bool,
    pub kind: ProtoKind,
    /// The name given, or BIRD's default (`kernel1`, `device1`, ...).
    pub name: String,
    /// Where the name is (the `protocol` keyword for a default name).
    pub span: Span,
    /// The template or protocol copied from: its index in [`Config::protocols`].
    pub from: Option<usize>,
    pub options: Vec<Opt>,
    /// The closing brace.
    pub end: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt {
    pub kind: OptKind,
    pub span: Span,
}

/// `graceful restart` of a BGP protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GracefulRestart {
    Off,
    On,
    Aware,
}

/// `add paths`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddPaths {
    Off,
    Rx,
    Tx,
    Both,
}

/// `import limit N [action ...]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitAction {
    Warn,
    Block,
    Restart,
    Disable,
}

/// One option inside a protocol or template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptKind {
    // Every kind.
    Description(String),
    /// `debug ...`: logging only.
    Debug,
    Disabled(bool),
    Preference(u32),
    Import(FilterRef),
    Export(FilterRef),
    ImportLimit(Option<(u32, LimitAction)>),
    ReceiveLimit(Option<(u32, LimitAction)>),
    // BGP.
    LocalAs(Option<IpAddr>, u32),
    Neighbor {
        address: IpAddr,
        port: Option<u16>,
        asn: Option<u32>,
    },
    SourceAddress(IpAddr),
    /// `multihop [N]` (64 without a number).
    Multihop(u8),
    /// `direct`: single hop.
    Direct,
    TtlSecurity(bool),
    Password(String),
    Passive(bool),
    RrClient,
    RrClusterId(Ipv4Addr),
    NextHopSelf,
    NextHopKeep,
    AddPaths(AddPaths),
    GracefulRestart(GracefulRestart),
    GracefulRestartTime(u32),
    ConnectDelayTime(u32),
    ConnectRetryTime(u32),
    ErrorWaitTime(u32, u32),
    KeepaliveTime(u32),
    HoldTime(u32),
    /// `allow local as [N]` (none: any number).
    AllowLocalAs(Option<u32>),
    /// `gateway recursive` (true) or `gateway direct`.
    GatewayRecursive(bool),
    // Kernel (also `graceful restart`, as `GracefulRestart`).
    Learn(bool),
    Persist(bool),
    ScanTime(u32),
    DeviceRoutes(bool),
    /// `merge paths on [limit N]`: the limit; 0 when off.
    MergePaths(u32),
    KernelTable(u32),
    Metric(u32),
    // Direct.
    Interface(Vec<IfacePattern>),
    // Static.
    Route(StaticRoute),
}

/// One entry of `interface ...`: a name pattern, `-` to exclude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfacePattern {
    pub exclude: bool,
    pub pattern: String,
}

/// `route PREFIX blackhole;` or `route PREFIX via ADDRESS;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticRoute {
    pub prefix: IpNet,
    pub dest: StaticDest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaticDest {
    Blackhole,
    Unreachable,
    Prohibit,
    Via(IpAddr),
}
