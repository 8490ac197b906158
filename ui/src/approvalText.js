// What an approval is about, worded in the client's language from the interrupt's structured
// `details` (tool, path, state, line counts, diff, command, timeout; an MCP tool's server and arguments). The server's English
// `description` is the fallback for anything these tables do not know (an older server, a new
// tool or state), so a reviewer always sees the facts.
import { i18n } from './i18n.js'

const texts = {
  en: {
    'write_file.unread': 'write_file {path}: {lines} to write (current content not read)',
    'write_file.directory': 'write_file {path}: this path is a directory; the write will fail',
    'write_file.unreadable': 'write_file {path}: the current file could not be read ({problem})',
    'write_file.binary': 'write_file {path}: replaces a binary file ({size} bytes) with {addedLines}',
    'write_file.new': 'write_file {path}: new file, {addedLines}',
    'write_file.identical': 'write_file {path}: overwrites the file with identical content',
    'write_file.overwrite': 'write_file {path}: overwrites the file, +{added} -{removed} lines',
    'edit_file.unread': 'edit_file {path}: replace {lines} (current content not read)',
    'edit_file.missing': 'edit_file {path}: the file does not exist; the edit will fail',
    'edit_file.directory': 'edit_file {path}: this path is a directory; the edit will fail',
    'edit_file.unreadable': 'edit_file {path}: the file is not text or cannot be read ({problem}); the edit will fail',
    'edit_file.fails': 'edit_file {path}: the edit will fail: {problem}',
    'edit_file.ok': 'edit_file {path}: {replacementCount}, +{added} -{removed} lines',
    'delete.unread': 'delete {path} (not checked whether it is a file or a directory)',
    'delete.directory': 'delete {path}: a DIRECTORY, removed with everything in it',
    'delete.missing': 'delete {path}: nothing exists at this path; the delete will fail',
    'delete.unreadable': 'delete {path}: {problem}',
    'delete.file': 'delete {path}: a file of {size} bytes',
    execute: 'execute in the sandbox',
    command: 'command: {command}',
    cwd: 'working directory: {cwd}',
    timeout: 'timeout: {timeout}',
    timeoutDefault: '{effective} s (default)',
    timeoutSame: '{requested} s',
    timeoutCapped: '{requested} s requested, runs with at most {effective} s',
    timeoutInvalid: '{requested} requested (not a number of seconds)',
    timeoutServer: 'server default',
    timeoutAsked: '{requested} s requested',
    cut: '... (description cut: {hidden} not shown)',
    line: (n) => `${n} line${n === 1 ? '' : 's'}`,
    moreLine: (n) => `${n} more line${n === 1 ? '' : 's'}`,
    replacement: (n) => `${n} replacement${n === 1 ? '' : 's'}`,
    policyRule: 'permission rule: {rule} ({says})',
    mcp: 'MCP server {server}: call its tool {name}',
    mcpArguments: 'arguments:',
    policyNotCovered:
      'path rules bind the file tools only: this command can still read or write any file the sandbox gives it, unless a command rule stops it',
  },
  zh: {
    'write_file.unread': '写入文件 {path}：将写入 {lines}（未读取当前内容）',
    'write_file.directory': '写入文件 {path}：此路径是目录，写入将失败',
    'write_file.unreadable': '写入文件 {path}：无法读取当前文件（{problem}）',
    'write_file.binary': '写入文件 {path}：用 {addedLines} 替换一个二进制文件（{size} 字节）',
    'write_file.new': '写入文件 {path}：新文件，{addedLines}',
    'write_file.identical': '写入文件 {path}：以相同内容覆盖此文件',
    'write_file.overwrite': '写入文件 {path}：覆盖此文件，+{added} -{removed} 行',
    'edit_file.unread': '编辑文件 {path}：替换 {lines}（未读取当前内容）',
    'edit_file.missing': '编辑文件 {path}：文件不存在，编辑将失败',
    'edit_file.directory': '编辑文件 {path}：此路径是目录，编辑将失败',
    'edit_file.unreadable': '编辑文件 {path}：文件不是文本或无法读取（{problem}），编辑将失败',
    'edit_file.fails': '编辑文件 {path}：编辑将失败：{problem}',
    'edit_file.ok': '编辑文件 {path}：{replacementCount}，+{added} -{removed} 行',
    'delete.unread': '删除 {path}（未检查是文件还是目录）',
    'delete.directory': '删除 {path}：这是一个目录，其中的所有内容都会被删除',
    'delete.missing': '删除 {path}：此路径不存在，删除将失败',
    'delete.unreadable': '删除 {path}：{problem}',
    'delete.file': '删除 {path}：一个 {size} 字节的文件',
    execute: '在沙箱中执行',
    command: '命令：{command}',
    cwd: '工作目录：{cwd}',
    timeout: '超时：{timeout}',
    timeoutDefault: '{effective} 秒（默认）',
    timeoutSame: '{requested} 秒',
    timeoutCapped: '请求 {requested} 秒，最多运行 {effective} 秒',
    timeoutInvalid: '请求了 {requested}（不是秒数）',
    timeoutServer: '服务器默认值',
    timeoutAsked: '请求 {requested} 秒',
    cut: '…（描述已截断：还有 {hidden} 未显示）',
    line: (n) => `${n} 行`,
    moreLine: (n) => `${n} 行`,
    replacement: (n) => `${n} 处替换`,
    policyRule: '权限规则：{rule}（{says}）',
    mcp: 'MCP 服务器 {server}：调用其工具 {name}',
    mcpArguments: '参数：',
    policyNotCovered: '路径规则只约束文件工具：除非有命令规则阻止，此命令仍可读写沙箱中能访问的任何文件',
  },
}

function table() {
  return texts[i18n.locale] || texts.en
}

function fill(template, params) {
  if (typeof template !== 'string') return null
  let complete = true
  const text = template.replace(/\{(\w+)\}/g, (_, name) => {
    if (params[name] === undefined || params[name] === null) complete = false
    return String(params[name])
  })
  return complete ? text : null
}

function timeoutText(timeout, words) {
  if (!timeout || typeof timeout !== 'object') return null
  const { requested, effective, valid } = timeout
  if (valid === false) return fill(words.timeoutInvalid, { requested })
  if (effective === null || effective === undefined) {
    return requested === null ? words.timeoutServer : fill(words.timeoutAsked, { requested })
  }
  if (requested === null) return fill(words.timeoutDefault, { effective })
  return fill(requested === effective ? words.timeoutSame : words.timeoutCapped, { requested, effective })
}

function executeLines(details, words) {
  const timeout = timeoutText(details.timeout, words)
  const lines = [fill(words.command, details), fill(words.cwd, details), timeout && fill(words.timeout, { timeout })]
  return lines.every((line) => line !== null) ? [words.execute, '', ...lines] : null
}

function fileLines(details, words) {
  const summary = fill(words[`${details.tool}.${details.state}`], {
    ...details,
    problem: details.problem || '',
    lines: typeof details.lines === 'number' ? words.line(details.lines) : null,
    addedLines: typeof details.added === 'number' ? words.line(details.added) : null,
    replacementCount: typeof details.replacements === 'number' ? words.replacement(details.replacements) : null,
  })
  if (summary === null) return null
  if (!details.diff) return [summary]
  const diff = details.diff.replace(/\n$/, '').split('\n')
  const cut = details.hidden_lines ? [fill(words.cut, { hidden: words.moreLine(details.hidden_lines) })] : []
  return [summary, '', ...diff, ...cut]
}

// A plugin tool (`<server>__<tool>`): which administrator's MCP server, which of its tools, every argument.
function mcpLines(details, words) {
  const server = details.mcp_server
  const prefix = `${server}__`
  const name = details.tool.startsWith(prefix) ? details.tool.slice(prefix.length) : details.tool
  const summary = fill(words.mcp, { server, name })
  if (summary === null) return null
  const args = JSON.stringify(details.arguments ?? {}, null, 2).split('\n')
  return [summary, '', words.mcpArguments, ...args]
}

// The permission rule that asks for this review, and what path rules do not cover (`details.policy`).
function policyLines(policy, words) {
  if (!policy || typeof policy !== 'object') return []
  const lines = []
  if (policy.rule) lines.push(fill(words.policyRule, { rule: policy.rule, says: policy.says ?? '' }))
  if (policy.not_covered) lines.push(words.policyNotCovered)
  return lines.filter(Boolean)
}

// The lines to show for one review item: localized from `details`, else the server's description.
export function approvalLines(item, argsText) {
  const details = item.details
  const words = table()
  let lines = null
  if (details && typeof details === 'object') {
    if (details.tool === 'execute') lines = executeLines(details, words)
    else if (typeof details.mcp_server === 'string') lines = mcpLines(details, words)
    else lines = fileLines(details, words)
    // The rule goes right under a file change's summary, above its diff; below an execute's few lines.
    const at = details.tool === 'execute' ? Infinity : 1
    if (lines) lines = [...lines.slice(0, at), ...policyLines(details.policy, words), ...lines.slice(at)]
  }
  return lines || (item.description || argsText).split('\n')
}
