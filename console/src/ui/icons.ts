/**
 * The icons the console uses, each from its own module: the package's barrel is thousands of
 * modules (slow to transform in tests), and its Node entry is CommonJS, which would load the
 * repository root's older React in tests instead of the console's.
 */
export { default as IconActivity } from "@tabler/icons-react/icons/IconActivity";
export { default as IconAlertOctagon } from "@tabler/icons-react/icons/IconAlertOctagon";
export { default as IconAlertTriangle } from "@tabler/icons-react/icons/IconAlertTriangle";
export { default as IconBuilding } from "@tabler/icons-react/icons/IconBuilding";
export { default as IconChartBar } from "@tabler/icons-react/icons/IconChartBar";
export { default as IconDownload } from "@tabler/icons-react/icons/IconDownload";
export { default as IconHistory } from "@tabler/icons-react/icons/IconHistory";
export { default as IconKey } from "@tabler/icons-react/icons/IconKey";
export { default as IconMail } from "@tabler/icons-react/icons/IconMail";
export { default as IconReceipt } from "@tabler/icons-react/icons/IconReceipt";
export { default as IconRepeat } from "@tabler/icons-react/icons/IconRepeat";
export { default as IconSettings } from "@tabler/icons-react/icons/IconSettings";
export { default as IconUsers } from "@tabler/icons-react/icons/IconUsers";
