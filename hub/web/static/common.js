// Shared by the console, the grid-worker page and the login page: i18n, API calls, formatting, live stream.
// Plain ES module, no build step, no third-party code.

// Alarm states come from the hub's enum (hub/alarm_states.py), served as a generated module; re-exported here.
import { ACKNOWLEDGEABLE, AlarmState, OPEN_STATES, PseudoState, STATES } from "/static/states.js";

export { ACKNOWLEDGEABLE, AlarmState, OPEN_STATES, PseudoState, STATES };

const DICT = {
  zh: {
    product: "社区安全监控", console: "告警中心", worker: "我的告警", login: "登录", logout: "退出",
    "login.title": "登录社区安全监控", "login.token": "访问令牌", "login.submit": "登录",
    "login.help": "在服务器上运行 compound token 您的人员编号，把输出的令牌粘贴到这里。",
    "login.invalid": "令牌无效或已过期，请重新获取。", "login.placeholder": "粘贴令牌…",
    "login.used": "此登录链接已使用过（每个链接只能用一次），请重新获取。",
    "login.revoked": "此令牌已被撤销，请联系物业经理。",
    live: "实时", reconnecting: "重新连接中…", offline: "连接中断",
    "filter.state": "状态", "filter.severity": "级别", "filter.kind": "类型", "filter.grid": "网格",
    "filter.all": "全部", "filter.open": "未关闭", "filter.reset": "重置",
    "col.severity": "级别", "col.kind": "类型", "col.location": "位置", "col.grid": "网格",
    "col.state": "状态", "col.assignees": "负责人", "col.raised": "发生时间", "col.value": "测量值",
    empty: "暂无告警", "empty.mine": "您负责的区域暂无告警", select: "选择一条告警查看详情",
    "count.open": "未关闭", "count.critical": "紧急", "count.unacked": "待确认",
    "detail.location": "位置", "detail.value": "测量值", "detail.threshold": "阈值", "detail.device": "设备",
    "detail.routing": "派单", "detail.edge": "边缘网关", "detail.history": "处理记录", "detail.events": "设备事件",
    "detail.household": "住户信息", "detail.care": "关爱对象", "detail.contact": "紧急联系人",
    "detail.message": "说明", "detail.raised": "发生", "detail.acknowledged": "确认", "detail.resolved": "关闭",
    "detail.cleared": "设备恢复", "detail.notified": "通知", "detail.reason": "原因", "detail.none": "无",
    "detail.residents": "住户", "detail.age": "岁", "detail.back": "返回",
    "action.ack": "确认接警", "action.resolve": "处理完成", "action.note": "处理说明",
    "action.note.ack": "备注（可选）", "action.note.required": "请填写处理说明",
    "action.done": "已完成", "action.failed": "操作失败", "action.ack.note": "确认备注",
    "action.raise": "告警发生", "action.notify": "已通知", "action.update": "数值更新", "action.clear": "设备恢复",
    "action.acknowledge": "确认接警", "action.resolve": "处理完成", "detail.rule": "派单规则",
    "role.micro_grid_worker": "微网格员", "role.grid_leader": "网格长", "role.full_time_grid_worker": "专职网格员",
    "role.property_security": "物业安保", "role.property_manager": "物业经理", "role.maintenance": "维修人员",
    "state.raised": "新告警", "state.notified": "已通知", "state.acknowledged": "已确认",
    "state.resolved": "已关闭", "state.cleared": "设备已恢复",
    "severity.critical": "紧急", "severity.warning": "警告", "severity.info": "提示",
    "kind.smoke": "烟雾报警", "kind.gas_pre_alarm": "燃气预警", "kind.gas": "燃气泄漏",
    "kind.door_held_open": "防火门常开", "kind.door_forced": "门禁被强行打开", "kind.care_inactive": "关爱对象无活动",
    "kind.device_offline": "设备离线", "kind.low_battery": "电量低", "kind.stuck_value": "读数卡滞",
    "kind.noisy_signal": "信号异常", "kind.ebike_in_lift": "电动车进电梯", "kind.fire_lane_blocked": "消防通道占用", "kind.edge_offline": "边缘网关离线",
    "kind.thrown_object": "高空抛物",
    "change.raised": "新告警", "change.updated": "已更新", "change.notified": "已通知",
    "change.acknowledged": "已确认", "change.resolved": "已关闭", "change.cleared": "设备已恢复",
    "care.elderly_alone": "独居老人", "care.disabled": "残障", "care.ill": "患病", "care.other": "其他",
    building: "楼", unit: "单元", floor: "层", flat: "室", by: "操作人", system: "系统",
    "lang.switch": "EN", "dead_letters": "死信",
    "dl.received": "接收时间", "dl.reason": "原因", "dl.topic": "主题", "dl.size": "大小", "dl.preview": "内容预览",
    "dl.empty": "没有被拒收的消息", "dl.forbidden": "仅物业经理可查看死信",
    "dl.help": "中心拒收的消息（格式错误、未知设备、超大、时间异常等），附原因与原始内容预览。",
    "detail.curve": "传感器曲线", "detail.curve.help": "告警前 30 分钟至今；红色虚线为阈值，紫线为告警时刻",
    "detail.curve.closed": "告警前 30 分钟至关闭；红色虚线为阈值，紫线为告警时刻",
    "detail.device_page": "设备历史", "curve.empty": "该时段没有读数", "curve.unavailable": "曲线暂不可用",
    "curve.none": "本中心未保存时间序列", "curve.notfound": "无此设备或无权查看",
    "device.title": "设备", "device.type": "类型", "device.edge": "边缘网关", "device.grid": "网格",
    "device.quantity": "测量量", "device.range": "时间范围", "device.back": "返回",
    "device.history": "历史曲线", "device.range.1h": "1 小时", "device.range.24h": "24 小时", "device.range.7d": "7 天",
    "device.latest": "最新读数", "device.points": "个读数", "device.updated": "更新于",
    "type.smoke_detector": "烟雾探测器", "type.gas_detector": "可燃气体探测器", "type.door_contact": "门磁",
    "type.lift_camera": "电梯摄像头", "type.fire_lane_camera": "消防通道摄像头", "type.facade_camera": "外立面摄像头",
    "quantity.smoke": "烟雾浓度", "quantity.gas": "燃气浓度", "quantity.door": "开关状态", "quantity.battery": "电量",
    "state.on_my_way": "在路上", "state.on_site": "已到场", "change.on_my_way": "在路上", "change.on_site": "已到场",
    "action.on_my_way": "在路上", "action.on_site": "已到场", "action.go": "在路上", "action.arrive": "已到场",
    "action.photo": "现场照片（可选，JPEG/PNG，≤ 5 MB）", "action.photo.big": "照片超过 5 MB",
    "action.site.note": "到场说明（可选）", "action.note.close": "处理说明（必填）",
    models: "识别模型",
    metrics: "响应统计", "m.title": "响应统计", "m.from": "开始", "m.to": "结束", "m.grid": "网格", "m.apply": "查询",
    "m.csv": "导出 CSV", "m.total": "合计", "m.by_grid": "按网格", "m.by_worker": "按人员（确认人）",
    "m.range.1d": "近 24 小时", "m.range.7d": "近 7 天", "m.range.30d": "近 30 天",
    "m.col.name": "名称", "m.col.alarms": "告警数", "m.col.drills": "演练（不计入）",
    "m.col.ack": "确认用时 p50 / p90", "m.col.on_site": "到场用时 p50 / p90", "m.col.resolve": "关闭用时 p50 / p90",
    "m.col.level1": "首级内确认", "m.col.in_time": "按时到场", "m.col.closed": "24 小时内关闭",
    "m.empty": "该时段没有告警", "m.period": "统计时段", "m.bad": "查询失败",
    "m.help": "统计该时段内发生的告警（不含演练）。用时从告警发生算起，p50 为中位数，p90 为 90% 的告警不超过的用时。首级内确认：在升级到第 1 级之前有人确认；按时到场：火警和燃气告警在确认后按升级策略规定的时间内到场；24 小时内关闭：发生后 24 小时内处理完成。",
    "m.sec": "秒", "m.min": "分", "m.hour": "小时", "m.day": "天",
    "esc.title": "升级与通知", "esc.level": "升级级别", "esc.next": "下一步", "esc.policy": "升级策略",
    "esc.flapping": "抖动", "esc.silenced": "已静默", "esc.drill": "演练", "esc.incident": "事件",
    "esc.level.n": "第 {n} 级", "esc.rule": "规则", "esc.none": "尚无通知记录", "esc.unavailable": "通知记录暂不可用",
    "esc.attempts": "投递记录", "esc.jobs": "条通知",
    "job.pending": "待发送", "job.sending": "发送中", "job.delivered": "已送达", "job.failed": "失败", "job.cancelled": "已取消",
    "job.alert": "通知", "job.reminder": "提醒", "job.update": "更新", "job.fallback": "备用渠道",
    "try.ok": "成功", "try.fail": "失败", "esc.group": "群", "action.escalation": "升级", "action.route": "派单",
    "plan.title": "处置预案", "plan.resources": "附近消防资源",
    "why.on_duty": "{day} {at} {grid}的{role}值班",
    "why.manager_fallback": "{day} {at} {grid}无{role}值班：由值班物业经理兜底",
    "why.grid_fallback": "{day} {at} {grid}无{role}值班：由{by_grid}的{by_role}兜底",
    "why.nobody": "{day} {at} {grid}无{role}值班，也无人可兜底",
    "day.mon": "周一", "day.tue": "周二", "day.wed": "周三", "day.thu": "周四", "day.fri": "周五", "day.sat": "周六", "day.sun": "周日",
  },
  en: {
    product: "Compound Safety Monitor", console: "Alarm console", worker: "My alarms", login: "Sign in", logout: "Sign out",
    "login.title": "Sign in to the safety monitor", "login.token": "Access token", "login.submit": "Sign in",
    "login.help": "On the server run: compound token YOUR_PERSON_ID, then paste the printed token here.",
    "login.invalid": "The token is invalid or has expired. Get a new one.", "login.placeholder": "Paste a token…",
    "login.used": "This login link was already used (each works once). Get a new one.",
    "login.revoked": "This token was revoked. Ask a property manager.",
    live: "Live", reconnecting: "Reconnecting…", offline: "Disconnected",
    "filter.state": "State", "filter.severity": "Severity", "filter.kind": "Kind", "filter.grid": "Grid",
    "filter.all": "All", "filter.open": "Open", "filter.reset": "Reset",
    "col.severity": "Severity", "col.kind": "Kind", "col.location": "Location", "col.grid": "Grid",
    "col.state": "State", "col.assignees": "Assigned to", "col.raised": "Raised", "col.value": "Value",
    empty: "No alarms", "empty.mine": "No alarms in your area", select: "Select an alarm to see its details",
    "count.open": "Open", "count.critical": "Critical", "count.unacked": "Unacknowledged",
    "detail.location": "Location", "detail.value": "Measured", "detail.threshold": "Threshold", "detail.device": "Device",
    "detail.routing": "Routing", "detail.edge": "Edge", "detail.history": "History", "detail.events": "Device events",
    "detail.household": "Household", "detail.care": "Care household", "detail.contact": "Emergency contact",
    "detail.message": "Message", "detail.raised": "Raised", "detail.acknowledged": "Acknowledged",
    "detail.resolved": "Resolved", "detail.cleared": "Cleared by device", "detail.notified": "Notified",
    "detail.reason": "Why", "detail.none": "None", "detail.residents": "Residents", "detail.age": "y",
    "detail.back": "Back",
    "action.ack": "Acknowledge", "action.resolve": "Resolve", "action.note": "Resolution note",
    "action.note.ack": "Note (optional)", "action.note.required": "A note is required to resolve",
    "action.done": "Done", "action.failed": "Action failed", "action.ack.note": "Note",
    "action.raise": "Raised", "action.notify": "Notified", "action.update": "Updated", "action.clear": "Cleared by device",
    "action.acknowledge": "Acknowledged", "action.resolve": "Resolved", "detail.rule": "Routing rule",
    "role.micro_grid_worker": "Micro-grid worker", "role.grid_leader": "Grid leader",
    "role.full_time_grid_worker": "Full-time grid worker", "role.property_security": "Property security",
    "role.property_manager": "Property manager", "role.maintenance": "Maintenance",
    "state.raised": "Raised", "state.notified": "Notified", "state.acknowledged": "Acknowledged",
    "state.resolved": "Resolved", "state.cleared": "Cleared",
    "severity.critical": "Critical", "severity.warning": "Warning", "severity.info": "Info",
    "kind.smoke": "Smoke", "kind.gas_pre_alarm": "Gas pre-alarm", "kind.gas": "Gas leak",
    "kind.door_held_open": "Fire door held open", "kind.door_forced": "Door forced", "kind.care_inactive": "Care: no activity",
    "kind.device_offline": "Device offline", "kind.low_battery": "Low battery", "kind.stuck_value": "Stuck value",
    "kind.noisy_signal": "Noisy signal", "kind.ebike_in_lift": "E-bike in lift", "kind.fire_lane_blocked": "Fire lane blocked", "kind.edge_offline": "Edge offline",
    "kind.thrown_object": "Object thrown from height",
    "change.raised": "New alarm", "change.updated": "Updated", "change.notified": "Notified",
    "change.acknowledged": "Acknowledged", "change.resolved": "Resolved", "change.cleared": "Cleared",
    "care.elderly_alone": "Elderly, alone", "care.disabled": "Disabled", "care.ill": "Ill", "care.other": "Other",
    building: "Bldg", unit: "Unit", floor: "Floor", flat: "Flat", by: "By", system: "System",
    "lang.switch": "中文", "dead_letters": "Dead letters",
    "dl.received": "Received", "dl.reason": "Reason", "dl.topic": "Topic", "dl.size": "Size", "dl.preview": "Preview",
    "dl.empty": "No refused messages", "dl.forbidden": "Dead letters are for property managers",
    "dl.help": "Messages the hub refused (malformed, unknown device, oversized, absurd time...) with the reason and a preview.",
    "detail.curve": "Sensor curve", "detail.curve.help": "30 min before the alarm until now; dashed red: threshold, purple: raised",
    "detail.curve.closed": "30 min before the alarm until it was resolved; dashed red: threshold, purple: raised",
    "detail.device_page": "Device history", "curve.empty": "No readings in this window",
    "curve.unavailable": "Curve unavailable", "curve.none": "This hub keeps no time series",
    "curve.notfound": "No such device, or not yours to see",
    "device.title": "Device", "device.type": "Type", "device.edge": "Edge", "device.grid": "Grid",
    "device.quantity": "Quantity", "device.range": "Range", "device.back": "Back",
    "device.history": "History", "device.range.1h": "1 h", "device.range.24h": "24 h", "device.range.7d": "7 days",
    "device.latest": "Latest reading", "device.points": "readings", "device.updated": "Updated",
    "type.smoke_detector": "Smoke detector", "type.gas_detector": "Gas detector", "type.door_contact": "Door contact",
    "type.lift_camera": "Lift camera", "type.fire_lane_camera": "Fire-lane camera", "type.facade_camera": "Façade camera",
    "quantity.smoke": "Smoke", "quantity.gas": "Gas", "quantity.door": "Door", "quantity.battery": "Battery",
    "state.on_my_way": "On my way", "state.on_site": "On site", "change.on_my_way": "On my way", "change.on_site": "On site",
    "action.on_my_way": "On my way", "action.on_site": "On site", "action.go": "On my way", "action.arrive": "On site",
    "action.photo": "Photo (optional, JPEG/PNG, ≤ 5 MB)", "action.photo.big": "The photo is over 5 MB",
    "action.site.note": "Note (optional)", "action.note.close": "Resolution note (required)",
    models: "Detector",
    metrics: "Response", "m.title": "Response metrics", "m.from": "From", "m.to": "To", "m.grid": "Grid", "m.apply": "Show",
    "m.csv": "Export CSV", "m.total": "Total", "m.by_grid": "By grid", "m.by_worker": "By worker (who acknowledged)",
    "m.range.1d": "Last 24 h", "m.range.7d": "Last 7 days", "m.range.30d": "Last 30 days",
    "m.col.name": "Name", "m.col.alarms": "Alarms", "m.col.drills": "Drills (not counted)",
    "m.col.ack": "To acknowledge p50 / p90", "m.col.on_site": "To on site p50 / p90", "m.col.resolve": "To resolve p50 / p90",
    "m.col.level1": "Acked within level 1", "m.col.in_time": "On site in time", "m.col.closed": "Closed within 24 h",
    "m.empty": "No alarms in this period", "m.period": "Period", "m.bad": "Could not load",
    "m.help": "Alarms raised in the period, drills left out. Times run from the raise; p50 is the median, p90 the time 90% of alarms stayed within. Acked within level 1: acknowledged before escalation reached level 1. On site in time: fire and gas alarms marked on site within the policy's time after the acknowledgement. Closed within 24 h: resolved within 24 h of the raise.",
    "m.sec": "s", "m.min": "min", "m.hour": "h", "m.day": "d",
    "esc.title": "Escalation and notifications", "esc.level": "Level", "esc.next": "Next step", "esc.policy": "Policy",
    "esc.flapping": "Flapping", "esc.silenced": "Silenced", "esc.drill": "Drill", "esc.incident": "Incident",
    "esc.level.n": "level {n}", "esc.rule": "rule", "esc.none": "No notifications yet", "esc.unavailable": "Notifications unavailable",
    "esc.attempts": "Delivery attempts", "esc.jobs": "notifications",
    "job.pending": "pending", "job.sending": "sending", "job.delivered": "delivered", "job.failed": "failed", "job.cancelled": "cancelled",
    "job.alert": "alert", "job.reminder": "reminder", "job.update": "update", "job.fallback": "fallback",
    "try.ok": "ok", "try.fail": "failed", "esc.group": "group", "action.escalation": "Escalation", "action.route": "Routed",
    "plan.title": "Response plan", "plan.resources": "Nearest resources",
    "why.on_duty": "{role} on duty for {grid}, {day} {at}",
    "why.manager_fallback": "no {role} on duty for {grid}, {day} {at}: the manager on duty covers",
    "why.grid_fallback": "no {role} on duty for {grid}, {day} {at}: {by_role} of {by_grid} covers",
    "why.nobody": "no {role} on duty for {grid}, {day} {at}, and nobody to fall back to",
    "day.mon": "Mon", "day.tue": "Tue", "day.wed": "Wed", "day.thu": "Thu", "day.fri": "Fri", "day.sat": "Sat", "day.sun": "Sun",
  },
};

// ---- Site plan (平面图), attention (sound, title, banners) and device health (设备状态): issue 15's strings.
Object.assign(DICT.zh, {
  siteplan: "平面图", health: "设备状态",
  "sp.title": "小区平面图", "sp.help": "点击楼栋查看各层住户与设备；标记颜色表示告警级别，闪烁表示尚未确认。",
  "sp.fire_lane": "消防通道", "sp.lift": "电梯", "sp.gate": "大门", "sp.camera": "摄像头",
  "sp.back": "返回平面图", "sp.back_building": "返回楼栋", "sp.devices": "设备", "sp.household": "住户信息",
  "sp.household.hidden": "住户信息仅对负责该户的网格员、网格长和物业经理显示",
  "sp.history": "告警记录", "sp.no_history": "没有告警记录", "sp.no_devices": "没有设备",
  "sp.open": "未关闭告警", "sp.none_open": "暂无未关闭告警", "sp.other": "公共设备", "sp.select": "点击平面图上的楼栋",
  "sp.dev.ok": "正常", "sp.dev.alarm": "告警", "sp.dev.fault": "故障", "sp.unacked": "待确认",
  "sp.legend.critical": "紧急", "sp.legend.warning": "警告", "sp.legend.info": "提示", "sp.legend.pulse": "闪烁：待确认",
  "sp.open_alarm": "查看告警", "sp.care": "关爱对象", "sp.phone": "电话",
  "site.kindergarten": "幼儿园", "site.school": "学校", "site.clinic": "诊所", "site.market": "市场", "site.other": "场所",
  "att.sound.enable": "开启声音", "att.sound.on": "声音已开启", "att.sound.help": "浏览器要求点击一次才能播放告警声音",
  "att.title": "【紧急告警】", "att.pending": "条紧急告警待确认",
  "att.broker": "中心与消息服务器的连接已中断，新告警可能无法送达", "att.edge": "边缘网关离线：",
  "h.title": "设备状态", "h.help": "设备故障以告警形式上报（离线、电量低、读数卡滞、信号异常）；网关在两个上报周期内没有任何消息的设备记为超时未报。",
  "h.counts": "按楼栋与类型", "h.list": "待处理设备", "h.edges": "边缘网关", "h.csv": "导出 CSV",
  "h.building": "楼栋", "h.type": "类型", "h.total": "总数", "h.filter": "状态", "h.all": "全部问题",
  "h.status.online": "在线", "h.status.offline": "离线", "h.status.low_battery": "电量低", "h.status.stuck": "读数卡滞",
  "h.status.noisy": "信号异常", "h.status.stale": "超时未报",
  "h.col.device": "设备", "h.col.location": "位置", "h.col.status": "状态", "h.col.value": "读数",
  "h.col.since": "开始时间", "h.col.last": "最近上报", "h.col.edge": "网关", "h.col.alarm": "告警",
  "h.empty": "没有需要处理的设备", "h.edge.never": "从未上报", "h.edge.online": "在线", "h.edge.offline": "离线",
  history: "历史告警", "hs.from": "开始", "hs.to": "结束", "hs.building": "楼栋", "hs.unit": "单元", "hs.flat": "房号",
  "hs.kind": "类型", "hs.state": "状态", "hs.person": "人员", "hs.search": "查询", "hs.prev": "上一页", "hs.next": "下一页",
  "hs.total": "共", "hs.items": "条", "hs.empty": "没有符合条件的告警", "hs.bad": "查询失败",
});
Object.assign(DICT.en, {
  siteplan: "Site plan", health: "Device health",
  "sp.title": "Site plan", "sp.help": "Click a building for its floors, flats and devices; markers are coloured by severity and pulse until acknowledged.",
  "sp.fire_lane": "Fire lane", "sp.lift": "Lift", "sp.gate": "Gate", "sp.camera": "Camera",
  "sp.back": "Back to the plan", "sp.back_building": "Back to the building", "sp.devices": "Devices", "sp.household": "Household",
  "sp.household.hidden": "The household is shown to the flat's grid workers, grid leaders and property managers",
  "sp.history": "Alarms", "sp.no_history": "No alarms here", "sp.no_devices": "No devices",
  "sp.open": "Open alarms", "sp.none_open": "No open alarms", "sp.other": "Shared devices", "sp.select": "Click a building on the plan",
  "sp.dev.ok": "OK", "sp.dev.alarm": "Alarm", "sp.dev.fault": "Fault", "sp.unacked": "Unacknowledged",
  "sp.legend.critical": "Critical", "sp.legend.warning": "Warning", "sp.legend.info": "Info", "sp.legend.pulse": "Pulsing: unacknowledged",
  "sp.open_alarm": "Open the alarm", "sp.care": "Care household", "sp.phone": "Phone",
  "site.kindergarten": "Kindergarten", "site.school": "School", "site.clinic": "Clinic", "site.market": "Market", "site.other": "Site",
  "att.sound.enable": "Enable sound", "att.sound.on": "Sound on", "att.sound.help": "The browser needs one click before it may play the alarm sound",
  "att.title": "[CRITICAL ALARM]", "att.pending": "critical alarms to acknowledge",
  "att.broker": "The hub lost its message broker: new alarms may not arrive", "att.edge": "Edge offline: ",
  "h.title": "Device health", "h.help": "Device faults arrive as alarms (offline, low battery, stuck value, noisy signal); a device whose edge has said nothing for two reporting intervals is stale.",
  "h.counts": "By building and type", "h.list": "Devices to attend to", "h.edges": "Edges", "h.csv": "Export CSV",
  "h.building": "Building", "h.type": "Type", "h.total": "Total", "h.filter": "Status", "h.all": "All problems",
  "h.status.online": "Online", "h.status.offline": "Offline", "h.status.low_battery": "Low battery", "h.status.stuck": "Stuck",
  "h.status.noisy": "Noisy", "h.status.stale": "Stale",
  "h.col.device": "Device", "h.col.location": "Location", "h.col.status": "Status", "h.col.value": "Reading",
  "h.col.since": "Since", "h.col.last": "Last report", "h.col.edge": "Edge", "h.col.alarm": "Alarm",
  "h.empty": "No devices to attend to", "h.edge.never": "Never reported", "h.edge.online": "Online", "h.edge.offline": "Offline",
  history: "History", "hs.from": "From", "hs.to": "To", "hs.building": "Building", "hs.unit": "Unit", "hs.flat": "Flat",
  "hs.kind": "Kind", "hs.state": "State", "hs.person": "Person", "hs.search": "Search", "hs.prev": "Previous", "hs.next": "Next",
  "hs.total": "", "hs.items": "alarms", "hs.empty": "No alarms match", "hs.bad": "Search failed",
});
// ---- The console's paged list (issue 15).
Object.assign(DICT.zh, { "list.more": "加载更多", "list.end": "已全部加载" });
Object.assign(DICT.en, { "list.more": "Load more", "list.end": "All loaded" });
// ---- Event messages, worded from the event's kind, state and figures (the edge's English text is the fallback
// for a kind with no entry here): "msg.<kind>.<state>", {value} and {threshold} as fmtValue writes them.
Object.assign(DICT.zh, {
  "detail.seq": "序号",
  "msg.smoke.raised": "烟雾浓度 {value}，超过阈值 {threshold}", "msg.smoke.updated": "烟雾浓度现为 {value}",
  "msg.smoke.cleared": "烟雾浓度已降到 {threshold} 以下",
  "msg.gas.raised": "燃气浓度 {value}，达到阈值 {threshold}", "msg.gas.updated": "燃气浓度现为 {value}",
  "msg.gas.cleared": "燃气浓度已降到 {threshold} 以下",
  "msg.door_held_open.raised": "防火门已开启 {value}，超过 {threshold}", "msg.door_held_open.updated": "防火门已开启 {value}",
  "msg.door_held_open.cleared": "防火门已关闭",
  "msg.door_forced.raised": "夜间模式下门被强行打开：开门前没有刷卡或按出门按钮", "msg.door_forced.cleared": "门已重新关闭",
  "msg.care_inactive.raised": "关爱对象家中已 {value} 没有开门活动（阈值 {threshold}）",
  "msg.care_inactive.cleared": "关爱对象家中有开门活动了",
  "msg.device_offline.raised": "设备已 {value} 没有上报（阈值 {threshold}）", "msg.device_offline.cleared": "设备恢复上报",
  "msg.low_battery.raised": "电池电量 {value}，低于 {threshold}", "msg.low_battery.cleared": "电池已更换，电量 {value}",
  "msg.stuck_value.raised": "读数长时间停在 {value} 不变", "msg.stuck_value.cleared": "读数恢复变化",
  "msg.noisy_signal.raised": "信号波动 {value}，超过 {threshold}", "msg.noisy_signal.cleared": "信号恢复平稳：{value}",
  "msg.ebike_in_lift.raised": "电梯轿厢内有电动车：已保持开门并播放语音提醒",
  "msg.ebike_in_lift.cleared": "电动车已离开：电梯门已释放",
  "msg.fire_lane_blocked.raised": "消防通道被占用已 {value}（阈值 {threshold}）", "msg.fire_lane_blocked.cleared": "消防通道已畅通",
  "msg.edge_offline.raised": "边缘网关失去联系", "msg.edge_offline.cleared": "边缘网关恢复联系",
  "msg.thrown_object.raised": "外立面摄像头看到物体从约 {n} 层的窗口坠落", "msg.thrown_object.cleared": "没有再看到坠物",
});
Object.assign(DICT.en, {
  "detail.seq": "seq",
  "msg.smoke.raised": "smoke {value}, above the threshold of {threshold}", "msg.smoke.updated": "smoke now {value}",
  "msg.smoke.cleared": "smoke back below {threshold}",
  "msg.gas.raised": "gas {value}, at or above the threshold of {threshold}", "msg.gas.updated": "gas now {value}",
  "msg.gas.cleared": "gas back below {threshold}",
  "msg.door_held_open.raised": "fire door open for {value}, longer than {threshold}", "msg.door_held_open.updated": "fire door open for {value}",
  "msg.door_held_open.cleared": "fire door closed",
  "msg.door_forced.raised": "door forced open in night mode: no card or exit button before", "msg.door_forced.cleared": "door closed again",
  "msg.care_inactive.raised": "no door activity at the care household for {value} (threshold {threshold})",
  "msg.care_inactive.cleared": "door activity at the care household again",
  "msg.device_offline.raised": "device silent for {value} (threshold {threshold})", "msg.device_offline.cleared": "device reporting again",
  "msg.low_battery.raised": "battery at {value}, below {threshold}", "msg.low_battery.cleared": "battery replaced: {value}",
  "msg.stuck_value.raised": "reading stuck at {value}", "msg.stuck_value.cleared": "reading moving again",
  "msg.noisy_signal.raised": "signal noise {value}, above {threshold}", "msg.noisy_signal.cleared": "signal quiet again: {value}",
  "msg.ebike_in_lift.raised": "e-bike in the lift car: doors held, warning playing",
  "msg.ebike_in_lift.cleared": "e-bike gone: doors released",
  "msg.fire_lane_blocked.raised": "fire lane blocked for {value} (threshold {threshold})", "msg.fire_lane_blocked.cleared": "fire lane free again",
  "msg.edge_offline.raised": "edge lost", "msg.edge_offline.cleared": "edge back",
  "msg.thrown_object.raised": "the façade camera saw an object fall from a window around floor {n}",
  "msg.thrown_object.cleared": "no more falling objects seen",
});
// ---- System notes in an alarm's history (ingest, routing, delivery, escalation, edge supervision), worded from
// their data (AlarmHistory.note_data: {key, ...}); a person's own note, or a note without data, is shown as written.
Object.assign(DICT.zh, {
  "note.raised_by": "由设备事件触发（{event}）", "note.raised_by_update": "由更新事件开启：此设备没有同类未关闭告警（{event}）",
  "note.device_cleared": "设备报告情况已解除（{event}）", "note.late": "清除之前的事件迟到送达（{event}）",
  "note.back": "清除后情况再次出现", "note.severity": "级别 {from} → {to}", "note.event": "{state} · 序号 {seq}",
  "note.routed": "已派单给 {people}", "note.routed_nobody": "无人可派单", "note.delivered": "已送达 {who}（{channel}）",
  "note.edge_said_offline": "边缘网关报告离线（遗嘱消息或停止运行）",
  "note.edge_silent": "边缘网关 {silent} 无任何消息（上限 {limit}）",
  "note.edge_gap": "序号 {from}–{to} 的事件 {waited} 未补齐（上限 {limit}）", "note.edge_back": "边缘网关已恢复在线",
  "note.esc_drill": "演练：静默规则 {rule}（{reason}）将此告警标为演练",
  "note.esc_never_silenced": "静默规则 {rule} 不适用：火警和燃气告警从不静默",
  "note.esc_silenced": "已静默（规则 {rule}：{reason}，{author}）：不推送",
  "note.esc_level0_nobody": "0 级无人可通知：直接进入下一级",
  "note.esc_flapping": "抖动：{window} 内恢复后又报警 {count} 次，保持一个告警并标记为抖动",
  "note.esc_on_site_late": "已确认但 {within} 内无人到场：继续升级",
  "note.esc_level_up": "升级到第 {level} 级（{roles}）：{timeout} 内无人确认（已通知：{told}）",
  "note.esc_unreachable": "{person}在第 {level} 级的渠道上都无法联系",
  "note.esc_joined": "并入事件 {incident}（主告警 {lead}）：随主告警一起通知",
  "note.esc_incident_grew": "告警 {alarm}（{kind}，{device}）并入本事件，共 {count} 个",
  "note.esc_incident_severity": "；事件级别 {from} → {to}", "note.nobody": "无人", "note.routed_roles": "按位置派发",
  "note.via_link": "通过消息链接",
  "severity.major": "重大", "channel.webpush": "网页推送", "channel.inbox": "站内消息", "channel.sms": "短信",
  "channel.wecom": "企业微信", "channel.voice": "语音电话", "channel.email": "邮件",
  "rule.fire_gas": "火警与燃气", "rule.grid_worker": "网格员处理", "rule.device_fault": "设备故障",
  "rule.security": "安保处理", "rule.fire_lane": "消防通道", "rule.edge_link": "网关链路",
  "policy.fire-gas": "火警与燃气", "policy.security": "安保", "policy.edge-link": "网关链路", "policy.default": "默认",
  "code.no_subscription": "未开启推送", "code.no_recipient": "无收件人", "code.recipient": "收件人无效",
  "code.inbox": "已放入工作台", "code.network": "网络错误", "code.exception": "程序错误",
});
Object.assign(DICT.en, {
  "note.raised_by": "raised by a device event ({event})",
  "note.raised_by_update": "opened by an update: no open alarm for this device and kind ({event})",
  "note.device_cleared": "the device cleared the condition ({event})", "note.late": "late, from before the clear ({event})",
  "note.back": "condition back after a clear", "note.severity": "severity {from} → {to}", "note.event": "{state} · seq {seq}",
  "note.routed": "routed to {people}", "note.routed_nobody": "nobody to route to", "note.delivered": "delivered to {who} ({channel})",
  "note.edge_said_offline": "the edge said it is offline (last will or stopped)",
  "note.edge_silent": "the edge silent for {silent} (limit {limit})",
  "note.edge_gap": "events seq {from}–{to} missing for {waited} (limit {limit})", "note.edge_back": "the edge is back online",
  "note.esc_drill": "drill: silence rule {rule} ({reason}) marks this alarm as a drill",
  "note.esc_never_silenced": "silence rule {rule} does not apply: fire and gas alarms are never silenced",
  "note.esc_silenced": "silenced (rule {rule}: {reason}, {author}): not pushed",
  "note.esc_level0_nobody": "nobody to notify at level 0: straight to the next level",
  "note.esc_flapping": "flapping: raised again after clearing {count} times within {window}; kept as one alarm",
  "note.esc_on_site_late": "acknowledged but nobody on site within {within}: escalating again",
  "note.esc_level_up": "escalated to level {level} ({roles}): nobody acknowledged within {timeout} (told: {told})",
  "note.esc_unreachable": "{person} cannot be reached on any channel of level {level}",
  "note.esc_joined": "joined incident {incident} (lead alarm {lead}): notified with the lead alarm",
  "note.esc_incident_grew": "alarm {alarm} ({kind}, {device}) joined this incident, {count} in all",
  "note.esc_incident_severity": "; incident severity {from} → {to}", "note.nobody": "nobody", "note.routed_roles": "routed by place",
  "note.via_link": "via a message link",
  "severity.major": "Major", "channel.webpush": "web push", "channel.inbox": "inbox", "channel.sms": "SMS",
  "channel.wecom": "WeCom", "channel.voice": "voice call", "channel.email": "e-mail",
  "rule.fire_gas": "fire and gas", "rule.grid_worker": "grid worker", "rule.device_fault": "device fault",
  "rule.security": "security", "rule.fire_lane": "fire lane", "rule.edge_link": "edge link",
  "policy.fire-gas": "fire and gas", "policy.security": "security", "policy.edge-link": "edge link", "policy.default": "default",
  "code.no_subscription": "push not enabled", "code.no_recipient": "no recipient", "code.recipient": "bad recipient",
  "code.inbox": "in the worker's list", "code.network": "network error", "code.exception": "program error",
});

/** A channel's name in the reader's language (its config id when the tables have no word for it). */
export function channelName(id) {
  return DICT[lang()][`channel.${id}`] ?? DICT.zh[`channel.${id}`] ?? id;
}

/** A history entry's note: worded from ``note_data`` when the hub wrote it as data, else as written. */
export function fmtHistoryNote(ctx, entry) {
  const d = entry.note_data;
  if (!d || !d.key || DICT.zh[`note.${d.key}`] === undefined && d.key !== "update") return entry.note || "";
  const sep = lang() === "en" ? "; " : "；";
  const seconds = (v) => (v === null || v === undefined ? "—" : fmtDuration(v));
  const people = (ids) => (ids && ids.length ? ids.map((p) => personName(ctx, p)).join(lang() === "en" ? ", " : "、") : t("note.nobody"));
  const fill = (key, words) => t(key).replace(/\{(\w+)\}/g, (_, name) => (words[name] ?? ""));
  const event = fill("note.event", { state: t(`change.${d.state}`), seq: d.seq })
    + (d.value !== null && d.value !== undefined ? ` · ${fmtValue({ value: d.value, unit: d.unit })}` : "");
  const sev = (s) => t(`severity.${s}`);
  switch (d.key) {
    case "update": {
      const parts = [];
      if (d.back) parts.push(t("note.back"));
      if (d.severity_from) parts.push(fill("note.severity", { from: sev(d.severity_from), to: sev(d.severity_to) }));
      return `${parts.join(sep)}${lang() === "en" ? ` (${event})` : `（${event}）`}`;
    }
    case "routed":
      return fill("note.routed", { people: (d.people || []).map(([p, role]) => (lang() === "en"
        ? `${personName(ctx, p)} (${t(`role.${role}`)})` : `${personName(ctx, p)}（${t(`role.${role}`)}）`)).join(lang() === "en" ? ", " : "、") });
    case "delivered":
      return fill("note.delivered", { who: d.person ? personName(ctx, d.person) : `${t("esc.group")} ${channelName(d.channel)}`, channel: channelName(d.channel) });
    case "edge_silent":
      return fill("note.edge_silent", { silent: seconds(d.silent), limit: seconds(d.limit) });
    case "edge_gap":
      return fill("note.edge_gap", { from: d.from, to: d.to, waited: seconds(d.waited), limit: seconds(d.limit) });
    case "esc_flapping":
      return fill("note.esc_flapping", { window: seconds(d.window), count: d.count });
    case "esc_on_site_late":
      return fill("note.esc_on_site_late", { within: seconds(d.within) });
    case "esc_level_up":
      return fill("note.esc_level_up", {
        level: d.level, timeout: seconds(d.timeout), told: people(d.told),
        roles: d.roles && d.roles.length ? d.roles.map((r) => t(`role.${r}`)).join("+") : t("note.routed_roles"),
      });
    case "esc_unreachable":
      return fill("note.esc_unreachable", { person: personName(ctx, d.person), level: d.level });
    case "esc_incident_grew":
      return fill("note.esc_incident_grew", { alarm: d.alarm, kind: t(`kind.${d.kind}`), device: d.device, count: d.count })
        + (d.severity_from ? fill("note.esc_incident_severity", { from: sev(d.severity_from), to: sev(d.severity_to) }) : "");
    default:
      return fill(`note.${d.key}`, { ...d, event });
  }
}

// ---- Web Push on the worker page.
Object.assign(DICT.zh, {
  "push.off": "开启推送通知", "push.on": "关闭推送通知", "push.busy": "正在开启…", "push.enabled": "本机已开启推送通知",
  "push.denied": "通知权限被拒绝：请在浏览器设置中允许", "push.unsupported": "此浏览器不支持推送通知（iPhone 需先“添加到主屏幕”）",
  "push.failed": "开启失败：", "push.timeout": "浏览器的推送服务无响应（Chrome 的推送服务在中国大陆不可用，可改用 Edge 或 Firefox）",
});
Object.assign(DICT.en, {
  "push.off": "Enable push", "push.on": "Disable push", "push.busy": "Enabling…", "push.enabled": "Push notifications are on for this device",
  "push.denied": "Notifications are blocked: allow them in the browser's settings",
  "push.unsupported": "This browser cannot receive push (on iPhone, add the page to the home screen first)",
  "push.failed": "Could not enable push: ", "push.timeout": "the browser's push service does not answer (Chrome's is unreachable in mainland China)",
});

// ---- Dead letters: why the hub refused a message (hub/ingest/validate.py DEAD_LETTER_REASONS), in words.
Object.assign(DICT.zh, {
  "dl.why.bad_topic": "主题格式错误", "dl.why.unknown_api_version": "主题版本不是 v1", "dl.why.unknown_compound": "不是本小区的主题",
  "dl.why.oversized": "消息过大", "dl.why.not_utf8": "不是 UTF-8 文本", "dl.why.not_json": "不是 JSON",
  "dl.why.not_object": "JSON 不是对象", "dl.why.unknown_schema": "未知的消息版本", "dl.why.wrong_type": "消息类型与主题不符",
  "dl.why.invalid": "字段缺失、类型错误或越界", "dl.why.topic_payload_mismatch": "消息内容与主题不符",
  "dl.why.unknown_device": "配置中没有此设备", "dl.why.unknown_edge": "配置中没有此网关", "dl.why.device_edge_mismatch": "设备不属于此网关",
  "dl.why.timestamp_out_of_range": "时间异常", "dl.why.bad_snapshot": "抓拍图片不完整", "dl.why.oversized_snapshot": "抓拍图片过大",
  "dl.why.store_failed": "保存失败", "dl.why.internal_error": "中心内部错误", "dl.bytes": "字节",
});
Object.assign(DICT.en, {
  "dl.why.bad_topic": "bad topic", "dl.why.unknown_api_version": "topic version is not v1", "dl.why.unknown_compound": "another compound's topic",
  "dl.why.oversized": "oversized", "dl.why.not_utf8": "not UTF-8", "dl.why.not_json": "not JSON",
  "dl.why.not_object": "JSON but not an object", "dl.why.unknown_schema": "unknown schema version", "dl.why.wrong_type": "type disagrees with the topic",
  "dl.why.invalid": "a field missing, of the wrong type or out of bounds", "dl.why.topic_payload_mismatch": "payload disagrees with the topic",
  "dl.why.unknown_device": "unknown device", "dl.why.unknown_edge": "unknown edge", "dl.why.device_edge_mismatch": "device of another edge",
  "dl.why.timestamp_out_of_range": "time out of range", "dl.why.bad_snapshot": "incomplete snapshot", "dl.why.oversized_snapshot": "oversized snapshot",
  "dl.why.store_failed": "storing failed", "dl.why.internal_error": "hub error", "dl.bytes": "B",
});

/** Kinds worded like another: a gas pre-alarm reads like a gas alarm. */
const MESSAGE_LIKE = { gas_pre_alarm: "gas" };

/**
 * An event's message in the reader's language from its kind, state ("raised" | "updated" | "cleared") and figures
 * ({value, unit, threshold}; {n} is the value as a whole number, e.g. a floor); ``fallback`` (the edge's own text) for a
 * kind or state the tables do not word.
 */
export function fmtEventMessage(kind, state, { value = null, unit = null, threshold = null } = {}, fallback = "") {
  const base = MESSAGE_LIKE[kind] || kind;
  const key = `msg.${base}.${state}`;
  const template = DICT[lang()][key] ?? DICT.zh[key] ?? (state === "updated" ? DICT[lang()][`msg.${base}.raised`] : undefined);
  if (template === undefined) return fallback || "";
  const words = {
    n: value === null || value === undefined ? "—" : String(Math.round(value)),
    value: fmtValue({ value, unit }),
    threshold: threshold === null || threshold === undefined ? "—" : fmtValue({ value: threshold, unit }),
  };
  return template.replace(/\{(\w+)\}/g, (_, name) => words[name] ?? "");
}
/** The translation tables (read-only use: tests check every visible string of a page against them). */
export const I18N = DICT;

export const SEVERITIES = ["critical", "warning", "info"];
export const KINDS = [
  "smoke", "gas", "gas_pre_alarm", "door_forced", "door_held_open", "care_inactive", "ebike_in_lift",
  "fire_lane_blocked", "device_offline", "low_battery", "stuck_value", "noisy_signal", "edge_offline",
  "thrown_object",
];

export function lang() {
  const saved = localStorage.getItem("compound.lang");
  return saved === "en" ? "en" : "zh";
}

export function t(key) {
  const d = DICT[lang()];
  return d[key] ?? DICT.zh[key] ?? key;
}

/** Translate every element with data-i18n (text) or data-i18n-placeholder. */
export function applyI18n(root = document) {
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
  root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.i18nPlaceholder); });
}

/** Wire a language switch button; ``onChange`` re-renders dynamic content. */
export function setupLangSwitch(button, onChange) {
  const render = () => { button.textContent = t("lang.switch"); applyI18n(); };
  button.addEventListener("click", () => {
    localStorage.setItem("compound.lang", lang() === "en" ? "zh" : "en");
    render();
    if (onChange) onChange();
  });
  render();
}

export class ApiError extends Error {
  constructor(status, detail) { super(`${status}: ${detail}`); this.status = status; this.detail = detail; }
}

/** Fetch JSON from the API with the session cookie; a 401 sends the browser to the login page. */
export async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: { Accept: "application/json" }, ...options };
  if (options.body !== undefined) {
    init.headers = { ...init.headers, "Content-Type": "application/json" };
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    location.href = `/login?next=${encodeURIComponent(location.pathname + location.hash)}`;
    throw new ApiError(401, "not signed in");
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : response.statusText;
    throw new ApiError(response.status, detail);
  }
  return data;
}

let timeZone = "Asia/Shanghai";
export function setTimeZone(tz) { timeZone = tz; }

/** A timestamp in the compound's timezone: "11-23 21:04:05" (date omitted when ``short`` and today). */
export function fmtTime(iso, { short = false } = {}) {
  if (!iso) return "—";
  const date = new Date(iso);
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    hourCycle: "h23",
  }).formatToParts(date).map((p) => [p.type, p.value]));
  const today = new Intl.DateTimeFormat("en-CA", { timeZone }).format(new Date());
  const day = `${parts.year}-${parts.month}-${parts.day}`;
  const clock = `${parts.hour}:${parts.minute}:${parts.second}`;
  return short && day === today ? clock : `${parts.month}-${parts.day} ${clock}`;
}

/** A chart's time-axis label in the compound's time zone: "02:15", or "11-24 02:15" for windows over a day. */
export function fmtAxis(date, spanMs = 0) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {
    timeZone, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(date).map((p) => [p.type, p.value]));
  const clock = `${parts.hour}:${parts.minute}`;
  return spanMs > 86_400_000 ? `${parts.month}-${parts.day} ${clock}` : clock;
}

/** A duration in seconds, for people: "45 秒", "3 分 20 秒", "2.5 小时", "3.2 天" ("—" for none). */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(Number(seconds));
  const sp = lang() === "en" ? " " : "";
  if (s < 60) return `${s}${sp}${t("m.sec")}`;
  if (s < 3600) {
    const m = Math.floor(s / 60); const r = s % 60;
    return r ? `${m}${sp}${t("m.min")} ${r}${sp}${t("m.sec")}` : `${m}${sp}${t("m.min")}`;
  }
  if (s < 86400) return `${(s / 3600).toFixed(1)}${sp}${t("m.hour")}`;
  return `${(s / 86400).toFixed(1)}${sp}${t("m.day")}`;
}

/** "3 分钟前" / "3 min ago". */
export function fmtAgo(iso) {
  if (!iso) return "";
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(lang() === "en" ? "en" : "zh-CN", { numeric: "auto" });
  if (seconds < 60) return rtf.format(-Math.round(seconds), "second");
  if (seconds < 3600) return rtf.format(-Math.round(seconds / 60), "minute");
  if (seconds < 86400) return rtf.format(-Math.round(seconds / 3600), "hour");
  return rtf.format(-Math.round(seconds / 86400), "day");
}

/** "2号楼 1单元 15层 1502室" / "Bldg b2 · Unit u1 · Floor 15 · Flat 1502". */
export function fmtLocation(loc, names = {}) {
  if (!loc) return "—";
  const bname = names[loc.building];
  const parts = [];
  if (lang() === "en") {
    parts.push(bname && !/[\u4e00-\u9fff]/.test(bname) ? bname : `${t("building")} ${loc.building}`);
    if (loc.unit) parts.push(`${t("unit")} ${loc.unit.replace(/^u/, "")}`);
    if (loc.floor !== null && loc.floor !== undefined) parts.push(`${t("floor")} ${loc.floor}`);
    if (loc.flat) parts.push(`${t("flat")} ${loc.flat}`);
    if (loc.place) parts.push(fmtPlace(loc.place));
    return parts.join(" · ");
  }
  parts.push(bname || `${loc.building}${t("building")}`);
  if (loc.unit) parts.push(`${loc.unit.replace(/^u/, "")}${t("unit")}`);
  if (loc.floor !== null && loc.floor !== undefined) parts.push(`${loc.floor}${t("floor")}`);
  if (loc.flat) parts.push(`${loc.flat}${t("flat")}`);
  if (loc.place) parts.push(fmtPlace(loc.place));
  return parts.join(" ");
}

const PLACES = {
  zh: { kitchen: "厨房", "flat-door": "入户门", entrance: "单元门", gate: "大门", "fire-door": "层防火门", lift: "号电梯" },
  en: { kitchen: "kitchen", "flat-door": "flat door", entrance: "entrance", gate: "gate", "fire-door": "fire door", lift: "lift" },
};

/** "fire-door-15" → "15层防火门" / "fire door 15"; "kitchen" → "厨房". */
export function fmtPlace(place) {
  if (!place) return "";
  const names = PLACES[lang()];
  if (names[place]) return names[place];
  const numbered = place.match(/^(.*)-(\d+)$/);
  if (numbered && names[numbered[1]]) {
    return lang() === "en" ? `${names[numbered[1]]} ${numbered[2]}` : `${numbered[2]}${names[numbered[1]]}`;
  }
  return place;
}

export function fmtValue(alarm) {
  if (alarm.value === null || alarm.value === undefined) return "—";
  if (alarm.unit === "s" && Math.abs(alarm.value) >= 3600) {
    return `${(alarm.value / 3600).toFixed(1)} ${lang() === "en" ? "h" : "小时"}`;
  }
  if (alarm.unit === "s" && Math.abs(alarm.value) >= 120) {
    return `${Math.round(alarm.value / 60)} ${lang() === "en" ? "min" : "分钟"}`;
  }
  const v = Number(alarm.value);
  const shown = Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(1) : v.toFixed(3);
  return `${shown}${alarm.unit ? " " + alarm.unit : ""}`;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function severityBadge(severity) {
  return el("span", { class: `sev sev-${severity}`, "data-severity": severity }, t(`severity.${severity}`));
}

export function stateChip(state) {
  return el("span", { class: `state state-${state}`, "data-state": state }, t(`state.${state}`));
}

/** The state chip, plus a "cleared by device" chip while an alarm the device cleared is still open. */
export function stateChips(alarm) {
  const chips = [stateChip(alarm.state)];
  if (alarm.cleared_at && OPEN_STATES.has(alarm.state)) {
    chips.push(el("span", { class: "state state-cleared", "data-cleared": "1" }, t("state.cleared")));
  }
  return el("span", { class: "chips" }, chips);
}

/**
 * Follow the server's push stream of alarm changes (server-sent events).
 * ``onChange({alarm, change})`` per change; ``onStatus("live"|"reconnecting")``; ``onResync()`` after a reconnect.
 */
export function followAlarms({ onChange, onStatus, onResync, params = "" }) {
  let source = null;
  let everOpen = false;
  const connect = () => {
    source = new EventSource(`/api/v1/alarms/stream${params}`, { withCredentials: true });
    source.addEventListener("open", () => {
      onStatus("live");
      if (everOpen && onResync) onResync();
      everOpen = true;
    });
    source.addEventListener("alarm", (msg) => onChange(JSON.parse(msg.data)));
    source.addEventListener("error", async () => {
      onStatus("reconnecting");
      if (source.readyState === EventSource.CLOSED) {
        // The server refused the stream (e.g. the session expired): check, then retry later.
        try { await api("/api/v1/me"); } catch (err) { return; }
        setTimeout(connect, 3000);
      }
    });
  };
  connect();
  return () => source && source.close();
}

/** The signed-in person, the compound and its directory (names of grids, people, buildings). */
export async function loadContext() {
  const me = await api("/api/v1/me");
  setTimeZone(me.compound.timezone);
  return me;
}

export function personName(ctx, id) {
  const p = ctx.directory.people[id];
  return p ? p.name : id;
}

export function gridName(ctx, id) {
  return (ctx.directory.grids[id] && ctx.directory.grids[id].name) || id || "—";
}
