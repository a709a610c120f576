//! The explorer's two languages: Simplified Chinese by default, English on
//! request (`?lang=en`, remembered in a cookie) or by `Accept-Language`.
//!
//! Every string a page shows is a field of [`Text`], so a missing
//! translation is a compile error rather than a blank on the page.

use axum::http::HeaderMap;

/// A page language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文.
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The `lang` attribute and query value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The short form used in `?lang=`.
    pub fn param(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The strings.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }

    fn from_tag(tag: &str) -> Option<Lang> {
        let tag = tag.trim().to_ascii_lowercase();
        if tag == "zh" || tag.starts_with("zh-") {
            Some(Lang::Zh)
        } else if tag == "en" || tag.starts_with("en-") {
            Some(Lang::En)
        } else {
            None
        }
    }
}

/// How the language was chosen; an explicit `?lang=` is remembered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The language.
    pub lang: Lang,
    /// Chosen by `?lang=` on this request (so set the cookie).
    pub explicit: bool,
}

/// Picks the language: `?lang=` first, then the `lang` cookie, then the
/// highest-weighted of `zh`/`en` in `Accept-Language`, then Chinese.
pub fn negotiate(query: Option<&str>, headers: &HeaderMap) -> Choice {
    if let Some(q) = query {
        for pair in q.split('&') {
            if let Some(v) = pair.strip_prefix("lang=") {
                if let Some(lang) = Lang::from_tag(v) {
                    return Choice {
                        lang,
                        explicit: true,
                    };
                }
            }
        }
    }
    let header = |name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(if name == "cookie" { ";" } else { "," })
    };
    for c in header("cookie").split(';') {
        if let Some(v) = c.trim().strip_prefix("lang=") {
            if let Some(lang) = Lang::from_tag(v) {
                return Choice {
                    lang,
                    explicit: false,
                };
            }
        }
    }
    // Accept-Language: "en-US,en;q=0.9,zh;q=0.8".
    let mut best: Option<(u32, Lang)> = None;
    for item in header("accept-language").split(',') {
        let mut parts = item.split(';');
        let Some(lang) = parts.next().and_then(Lang::from_tag) else {
            continue;
        };
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(1000, |v| {
                v.parse::<f32>()
                    .map_or(0, |f| (f.clamp(0.0, 1.0) * 1000.0) as u32)
            });
        if best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    Choice {
        lang: best.map_or(Lang::Zh, |(_, l)| l),
        explicit: false,
    }
}

/// Every string the pages show; the field names say where.
#[allow(missing_docs)]
pub struct Text {
    pub site: &'static str,
    pub tagline: &'static str,
    pub switch_label: &'static str,
    pub nav_home: &'static str,
    pub nav_donor: &'static str,
    pub nav_orgs: &'static str,
    pub nav_evidence: &'static str,
    pub nav_verify: &'static str,
    pub nav_regulator: &'static str,
    pub search_placeholder: &'static str,
    pub search_button: &'static str,
    pub copy: &'static str,
    pub beijing_time: &'static str,
    pub network: &'static str,
    pub chain_id: &'static str,
    pub height: &'static str,
    pub validators: &'static str,
    pub power: &'static str,
    pub recent_blocks: &'static str,
    pub live_feed: &'static str,
    pub live_waiting: &'static str,
    pub total_raised: &'static str,
    pub total_spent: &'static str,
    pub campaigns: &'static str,
    pub organisations: &'static str,
    pub genesis_hash: &'static str,
    pub block: &'static str,
    pub time: &'static str,
    pub transactions: &'static str,
    pub hash: &'static str,
    pub raised: &'static str,
    pub target: &'static str,
    pub spent: &'static str,
    pub unallocated: &'static str,
    pub refunded: &'static str,
    pub granted_in: &'static str,
    pub granted_out: &'static str,
    pub of_target: &'static str,
    pub window: &'static str,
    pub status: &'static str,
    pub purpose: &'static str,
    pub beneficiaries: &'static str,
    pub region: &'static str,
    pub approval: &'static str,
    pub filing_no: &'static str,
    pub filed_at: &'static str,
    pub decided_at: &'static str,
    pub closed_at: &'static str,
    pub emergency: &'static str,
    pub platforms: &'static str,
    pub leftover_plan: &'static str,
    pub charity: &'static str,
    pub budget_lines: &'static str,
    pub line: &'static str,
    pub category: &'static str,
    pub budget: &'static str,
    pub restricted_waiting: &'static str,
    pub flow: &'static str,
    pub flow_caption: &'static str,
    pub flow_public: &'static str,
    pub flow_grant_from: &'static str,
    pub flow_unspent: &'static str,
    pub flow_refunded: &'static str,
    pub disbursements: &'static str,
    pub all_disbursements: &'static str,
    pub recipient: &'static str,
    pub amount: &'static str,
    pub evidence: &'static str,
    pub no_evidence: &'static str,
    pub reports: &'static str,
    pub no_reports: &'static str,
    pub donations: &'static str,
    pub donor: &'static str,
    pub channel: &'static str,
    pub restricted_to: &'static str,
    pub anonymous: &'static str,
    pub grant_from: &'static str,
    pub next_page: &'static str,
    pub first_page: &'static str,
    pub notes: &'static str,
    pub severity: &'static str,
    pub refunds: &'static str,
    pub reason: &'static str,
    pub status_pending: &'static str,
    pub status_approved: &'static str,
    pub status_rejected: &'static str,
    pub status_closed: &'static str,
    pub cat_program: &'static str,
    pub cat_management: &'static str,
    pub cat_fundraising: &'static str,
    pub org_code: &'static str,
    pub role: &'static str,
    pub role_regulator: &'static str,
    pub role_charity: &'static str,
    pub role_platform: &'static str,
    pub role_auditor: &'static str,
    pub public_fundraising: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
    pub org_status_active: &'static str,
    pub org_status_suspended: &'static str,
    pub org_status_revoked: &'static str,
    pub keys: &'static str,
    pub registered: &'static str,
    pub yearly: &'static str,
    pub year: &'static str,
    pub income: &'static str,
    pub program: &'static str,
    pub management: &'static str,
    pub fundraising: &'static str,
    pub program_ratio: &'static str,
    pub management_ratio: &'static str,
    pub donor_title: &'static str,
    pub donor_intro: &'static str,
    pub donor_code_label: &'static str,
    pub donor_lookup: &'static str,
    pub donor_noscript: &'static str,
    pub donor_tag: &'static str,
    pub donor_none: &'static str,
    pub donor_total: &'static str,
    pub went_to: &'static str,
    pub paid_to: &'static str,
    pub via_grant: &'static str,
    pub not_yet_spent: &'static str,
    pub refunded_to_you: &'static str,
    pub verify_button: &'static str,
    pub verify_title: &'static str,
    pub verify_intro: &'static str,
    pub verify_paste: &'static str,
    pub receipt_download: &'static str,
    pub tx_title: &'static str,
    pub kind: &'static str,
    pub signer: &'static str,
    pub signature: &'static str,
    pub index: &'static str,
    pub canonical_json: &'static str,
    pub inclusion_proof: &'static str,
    pub committed_in: &'static str,
    pub block_title: &'static str,
    pub header: &'static str,
    pub commit: &'static str,
    pub round: &'static str,
    pub prev_block: &'static str,
    pub next_block: &'static str,
    pub proposer: &'static str,
    pub evidence_title: &'static str,
    pub evidence_intro: &'static str,
    pub evidence_drop: &'static str,
    pub evidence_found: &'static str,
    pub evidence_not_found: &'static str,
    pub evidence_hash_label: &'static str,
    pub evidence_check: &'static str,
    pub regulator_title: &'static str,
    pub regulator_intro: &'static str,
    pub flags: &'static str,
    pub no_flags: &'static str,
    pub rule: &'static str,
    pub sev_violation: &'static str,
    pub sev_warning: &'static str,
    pub sev_notice: &'static str,
    pub ratios: &'static str,
    pub limit: &'static str,
    pub no_ratio_rule: &'static str,
    pub search_results: &'static str,
    pub error_title: &'static str,
    pub not_found_title: &'static str,
    pub bad_request_title: &'static str,
    pub back_home: &'static str,
    pub unknown_tx: &'static str,
    pub unknown_block: &'static str,
    pub unknown_campaign: &'static str,
    pub unknown_org: &'static str,
    pub bad_id: &'static str,
    pub bad_donor_code: &'static str,
    pub nothing_found: &'static str,
    pub unknown_page: &'static str,
    pub internal_error: &'static str,
}

/// 简体中文.
pub static ZH: Text = Text {
    site: "慈善账本浏览器",
    tagline: "每一笔善款的去向，都可以在您自己的浏览器里核实。",
    switch_label: "English",
    nav_home: "首页",
    nav_donor: "我的捐赠",
    nav_orgs: "机构",
    nav_evidence: "票据核对",
    nav_verify: "验证回执",
    nav_regulator: "监管",
    search_placeholder: "交易编号、区块高度、项目、机构或捐赠码",
    search_button: "搜索",
    copy: "复制",
    beijing_time: "北京时间",
    network: "网络",
    chain_id: "链标识",
    height: "区块高度",
    validators: "验证节点",
    power: "投票权",
    recent_blocks: "最新区块",
    live_feed: "实时动态",
    live_waiting: "等待新区块……",
    total_raised: "累计募集",
    total_spent: "累计支出",
    campaigns: "募捐项目",
    organisations: "机构",
    genesis_hash: "创世哈希",
    block: "区块",
    time: "时间",
    transactions: "交易",
    hash: "哈希",
    raised: "已募集",
    target: "目标",
    spent: "已支出",
    unallocated: "尚未使用",
    refunded: "已退款",
    granted_in: "其中来自其他项目的资助",
    granted_out: "其中资助其他项目",
    of_target: "占目标",
    window: "募捐期限",
    status: "状态",
    purpose: "项目说明",
    beneficiaries: "受益人",
    region: "地区",
    approval: "备案",
    filing_no: "备案编号",
    filed_at: "提交备案",
    decided_at: "民政部门决定",
    closed_at: "结项",
    emergency: "紧急项目",
    platforms: "募捐平台",
    leftover_plan: "剩余财产处理",
    charity: "慈善组织",
    budget_lines: "预算执行",
    line: "预算科目",
    category: "类别",
    budget: "预算",
    restricted_waiting: "定向待用",
    flow: "资金流向",
    flow_caption: "从捐款经预算科目到收款方（宽度与金额成正比）",
    flow_public: "公众捐款",
    flow_grant_from: "资助来自",
    flow_unspent: "尚未使用",
    flow_refunded: "已退款",
    disbursements: "支出记录",
    all_disbursements: "全部支出记录",
    recipient: "收款方",
    amount: "金额",
    evidence: "凭证",
    no_evidence: "无凭证",
    reports: "项目进展",
    no_reports: "尚无进展报告",
    donations: "捐款记录",
    donor: "捐赠人",
    channel: "渠道",
    restricted_to: "定向",
    anonymous: "匿名捐赠人",
    grant_from: "项目资助：",
    next_page: "下一页",
    first_page: "第一页",
    notes: "更正与审计意见",
    severity: "严重程度",
    refunds: "退款",
    reason: "原因",
    status_pending: "待备案",
    status_approved: "已备案，募捐中",
    status_rejected: "未获备案",
    status_closed: "已结项",
    cat_program: "慈善活动支出",
    cat_management: "管理费用",
    cat_fundraising: "募捐成本",
    org_code: "统一社会信用代码",
    role: "角色",
    role_regulator: "民政部门",
    role_charity: "慈善组织",
    role_platform: "募捐信息平台",
    role_auditor: "审计机构",
    public_fundraising: "公开募捐资格",
    yes: "有",
    no: "无",
    org_status_active: "正常",
    org_status_suspended: "暂停",
    org_status_revoked: "撤销",
    keys: "签名公钥",
    registered: "登记于区块",
    yearly: "年度收支",
    year: "年度",
    income: "收入",
    program: "慈善活动支出",
    management: "管理费用",
    fundraising: "募捐成本",
    program_ratio: "慈善活动支出占上年收入",
    management_ratio: "管理费用占总支出",
    donor_title: "我的捐赠",
    donor_intro: "输入捐赠回执上的捐赠码。捐赠码只在您的浏览器中计算成捐赠人标识，不会发送给任何服务器。",
    donor_code_label: "捐赠码",
    donor_lookup: "查询",
    donor_noscript: "为保护您的隐私，捐赠码需要在浏览器中用 JavaScript 计算。请启用 JavaScript，或直接输入捐赠人标识（64 位十六进制）：",
    donor_tag: "捐赠人标识",
    donor_none: "这个捐赠人标识在链上没有捐款记录。请检查捐赠码是否输入正确。",
    donor_total: "捐款合计",
    went_to: "捐给",
    paid_to: "支付给",
    via_grant: "经资助转入",
    not_yet_spent: "尚未使用",
    refunded_to_you: "已退还",
    verify_button: "在我的浏览器中验证",
    verify_title: "验证回执",
    verify_intro: "粘贴一份交易回执（JSON）。浏览器会用 WebCrypto 按设计的四个步骤独立核对：交易编号与签名、包含于区块、区块哈希与提交签名、验证者集合。",
    verify_paste: "验证这份回执",
    receipt_download: "下载回执（JSON）",
    tx_title: "交易",
    kind: "类型",
    signer: "签名者",
    signature: "签名",
    index: "块内序号",
    canonical_json: "规范化 JSON（RFC 8785，即被哈希和签名的字节）",
    inclusion_proof: "包含证明（至区块 tx_root）",
    committed_in: "已上链于区块",
    block_title: "区块",
    header: "区块头",
    commit: "提交证书",
    round: "轮次",
    prev_block: "上一块",
    next_block: "下一块",
    proposer: "提议者",
    evidence_title: "票据核对",
    evidence_intro: "把发票、合同或照片文件拖到这里。浏览器计算文件的 SHA-256，并查询哪一笔支出或进展报告引用了它。文件本身不会上传。",
    evidence_drop: "拖放文件到此处，或点击选择文件",
    evidence_found: "这份文件被以下交易引用：",
    evidence_not_found: "链上没有任何支出或报告引用这份文件。",
    evidence_hash_label: "或输入文件的 SHA-256：",
    evidence_check: "核对",
    regulator_title: "监管视图",
    regulator_intro: "根据链上数据计算的合规提示：年度支出比例、募捐期限、预算超支、凭证缺失、信息公开间隔和大额匿名捐赠。",
    flags: "合规提示",
    no_flags: "没有合规提示。",
    rule: "规则",
    sev_violation: "违规",
    sev_warning: "警告",
    sev_notice: "提示",
    ratios: "年度支出比例",
    limit: "限额",
    no_ratio_rule: "该机构不适用年度比例规则（无公开募捐资格或非慈善组织）。",
    search_results: "搜索结果",
    error_title: "出错了",
    not_found_title: "没有找到",
    bad_request_title: "无法识别的输入",
    back_home: "返回首页",
    unknown_tx: "链上没有这笔交易（它可能仍在等待上链）。",
    unknown_block: "这个区块还不存在。",
    unknown_campaign: "没有这个募捐项目。",
    unknown_org: "没有登记这个机构。",
    bad_id: "这不是一个有效的编号。",
    bad_donor_code: "捐赠码格式不正确。",
    nothing_found: "没有与之匹配的交易、区块、项目、机构或捐赠人。",
    unknown_page: "没有这个页面。",
    internal_error: "服务器暂时无法生成这个页面，请稍后再试。",
};

/// English.
pub static EN: Text = Text {
    site: "Charity Ledger Explorer",
    tagline: "Where every donation went, verifiable in your own browser.",
    switch_label: "中文",
    nav_home: "Home",
    nav_donor: "My donations",
    nav_orgs: "Organisations",
    nav_evidence: "Check a document",
    nav_verify: "Verify a receipt",
    nav_regulator: "Regulator",
    search_placeholder: "Transaction id, block height, campaign, organisation or donor code",
    search_button: "Search",
    copy: "Copy",
    beijing_time: "Beijing time",
    network: "Network",
    chain_id: "Chain",
    height: "Height",
    validators: "Validators",
    power: "Power",
    recent_blocks: "Recent blocks",
    live_feed: "Live",
    live_waiting: "Waiting for the next block…",
    total_raised: "Raised in all",
    total_spent: "Spent in all",
    campaigns: "Campaigns",
    organisations: "Organisations",
    genesis_hash: "Genesis hash",
    block: "Block",
    time: "Time",
    transactions: "Transactions",
    hash: "Hash",
    raised: "Raised",
    target: "Target",
    spent: "Spent",
    unallocated: "Not yet spent",
    refunded: "Refunded",
    granted_in: "of which grants from other campaigns",
    granted_out: "of which grants to other campaigns",
    of_target: "of target",
    window: "Fundraising window",
    status: "Status",
    purpose: "Purpose",
    beneficiaries: "Beneficiaries",
    region: "Region",
    approval: "Filing",
    filing_no: "Filing number",
    filed_at: "Filed",
    decided_at: "Decided by the bureau",
    closed_at: "Closed",
    emergency: "Emergency campaign",
    platforms: "Fundraising platforms",
    leftover_plan: "Plan for leftover funds",
    charity: "Charity",
    budget_lines: "Budget",
    line: "Budget line",
    category: "Category",
    budget: "Budget",
    restricted_waiting: "restricted, waiting",
    flow: "Where the money went",
    flow_caption: "From donations through budget lines to recipients (widths proportional to amounts)",
    flow_public: "Public donations",
    flow_grant_from: "Grant from",
    flow_unspent: "Not yet spent",
    flow_refunded: "Refunded",
    disbursements: "Disbursements",
    all_disbursements: "All disbursements",
    recipient: "Recipient",
    amount: "Amount",
    evidence: "Evidence",
    no_evidence: "no evidence",
    reports: "Progress",
    no_reports: "No progress report yet",
    donations: "Donations",
    donor: "Donor",
    channel: "Channel",
    restricted_to: "Restricted to",
    anonymous: "Anonymous donor",
    grant_from: "Grant from ",
    next_page: "Next page",
    first_page: "First page",
    notes: "Corrections and audit notes",
    severity: "Severity",
    refunds: "Refunds",
    reason: "Reason",
    status_pending: "Awaiting filing",
    status_approved: "Filed, fundraising",
    status_rejected: "Filing rejected",
    status_closed: "Closed",
    cat_program: "Charitable activities",
    cat_management: "Management",
    cat_fundraising: "Fundraising costs",
    org_code: "Unified Social Credit Code",
    role: "Role",
    role_regulator: "Civil-affairs bureau",
    role_charity: "Charity",
    role_platform: "Fundraising platform",
    role_auditor: "Auditor",
    public_fundraising: "Public-fundraising qualification",
    yes: "Yes",
    no: "No",
    org_status_active: "Active",
    org_status_suspended: "Suspended",
    org_status_revoked: "Revoked",
    keys: "Signing keys",
    registered: "Registered in block",
    yearly: "Income and spending by year",
    year: "Year",
    income: "Income",
    program: "Charitable activities",
    management: "Management",
    fundraising: "Fundraising",
    program_ratio: "Charitable spending / last year's income",
    management_ratio: "Management / total spending",
    donor_title: "My donations",
    donor_intro: "Enter the donor code from your receipt. Your browser turns it into a donor tag itself; the code is never sent to any server.",
    donor_code_label: "Donor code",
    donor_lookup: "Look up",
    donor_noscript: "To protect your privacy the donor code is hashed by JavaScript in your browser. Enable JavaScript, or enter the donor tag (64 hex characters) directly:",
    donor_tag: "Donor tag",
    donor_none: "No donation on the chain carries this donor tag. Check that the code was typed correctly.",
    donor_total: "Donated in all",
    went_to: "to",
    paid_to: "paid to",
    via_grant: "passed on as a grant to",
    not_yet_spent: "not yet spent",
    refunded_to_you: "refunded",
    verify_button: "Verify in my browser",
    verify_title: "Verify a receipt",
    verify_intro: "Paste a transaction receipt (JSON). Your browser checks it with WebCrypto by the design's four steps: transaction id and signature, inclusion in the block, block hash and commit, validator set.",
    verify_paste: "Verify this receipt",
    receipt_download: "Download the receipt (JSON)",
    tx_title: "Transaction",
    kind: "Kind",
    signer: "Signer",
    signature: "Signature",
    index: "Index in block",
    canonical_json: "Canonical JSON (RFC 8785: the bytes that are hashed and signed)",
    inclusion_proof: "Inclusion proof (to the block's tx_root)",
    committed_in: "Committed in block",
    block_title: "Block",
    header: "Header",
    commit: "Commit certificate",
    round: "Round",
    prev_block: "Previous",
    next_block: "Next",
    proposer: "Proposer",
    evidence_title: "Check a document",
    evidence_intro: "Drop an invoice, contract or photo here. Your browser computes the file's SHA-256 and asks which disbursement or report cites it. The file itself is not uploaded.",
    evidence_drop: "Drop a file here, or click to choose one",
    evidence_found: "This file is cited by:",
    evidence_not_found: "No disbursement or report on the chain cites this file.",
    evidence_hash_label: "Or enter the file's SHA-256:",
    evidence_check: "Check",
    regulator_title: "Regulator",
    regulator_intro: "Compliance flags computed from the chain: annual spending ratios, fundraising windows, budget overruns, missing evidence, disclosure intervals and large anonymous donations.",
    flags: "Compliance flags",
    no_flags: "No flags.",
    rule: "Rule",
    sev_violation: "Violation",
    sev_warning: "Warning",
    sev_notice: "Notice",
    ratios: "Annual spending ratios",
    limit: "limit",
    no_ratio_rule: "No annual ratio rule applies (no public-fundraising qualification, or not a charity).",
    search_results: "Search results",
    error_title: "Something went wrong",
    not_found_title: "Not found",
    bad_request_title: "That input is not recognised",
    back_home: "Back to the home page",
    unknown_tx: "This transaction is not on the chain (it may still be pending).",
    unknown_block: "This block does not exist yet.",
    unknown_campaign: "There is no such campaign.",
    unknown_org: "No such organisation is registered.",
    bad_id: "This is not a valid id.",
    bad_donor_code: "That donor code is not well formed.",
    nothing_found: "No transaction, block, campaign, organisation or donor matches.",
    unknown_page: "There is no such page.",
    internal_error: "The server could not build this page just now; please try again later.",
};

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn query_then_cookie_then_accept_language_then_chinese() {
        let none = HeaderMap::new();
        assert_eq!(negotiate(None, &none).lang, Lang::Zh);
        assert_eq!(
            negotiate(None, &with("accept-language", "en-US,en;q=0.9")).lang,
            Lang::En
        );
        assert_eq!(
            negotiate(None, &with("accept-language", "en;q=0.5, zh-CN;q=0.8")).lang,
            Lang::Zh
        );
        assert_eq!(
            negotiate(None, &with("accept-language", "fr, de;q=0.5")).lang,
            Lang::Zh
        );
        let cookie = with("cookie", "a=b; lang=en");
        assert_eq!(negotiate(None, &cookie).lang, Lang::En);
        let q = negotiate(Some("x=1&lang=zh"), &cookie);
        assert_eq!(q.lang, Lang::Zh);
        assert!(q.explicit);
        assert_eq!(
            negotiate(Some("lang=<script>"), &none),
            Choice {
                lang: Lang::Zh,
                explicit: false
            }
        );
    }
}
