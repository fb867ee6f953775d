//! `sse serve`'s flags, built from the settings tables ([`HUB_SETTINGS`]
//! and [`SERVE_SETTINGS`]) with clap's builder API: each setting's flag,
//! `[env: SSE_…]` variable, value name and help come from its entry, and
//! its value is checked by the entry itself (so a bad value is refused by
//! clap with the flag or variable named, as for any flag).

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};
use sse_hub::config::{Kind, Setting, Source, Value, HUB_SETTINGS};
use sse_hub::HubConfig;

use super::options::{Options, SERVE_SETTINGS};

/// The values given on the command line or in the environment, in the
/// tables' order, to apply over the file.
#[derive(Debug, Default)]
pub struct Flags {
    hub: Vec<(&'static Setting<HubConfig>, Value, Source)>,
    own: Vec<(&'static Setting<Options>, Value, Source)>,
}

impl Flags {
    /// Applies every given value (they were checked when parsed); returns
    /// the names set.
    pub(super) fn apply(
        self,
        hub: &mut HubConfig,
        options: &mut Options,
    ) -> anyhow::Result<Vec<&'static str>> {
        let mut given = Vec::new();
        for (setting, value, from) in self.hub {
            setting.apply(hub, value, from)?;
            given.push(setting.name());
        }
        for (setting, value, from) in self.own {
            setting.apply(options, value, from)?;
            given.push(setting.name());
        }
        Ok(given)
    }
}

fn arg<T: Default>(setting: &'static Setting<T>) -> Arg {
    let arg = Arg::new(setting.name())
        .long(setting.long())
        .env(setting.env())
        .value_name(setting.value_name())
        .help(setting.help())
        .value_parser(move |text: &str| {
            // Checked on a scratch value: the same code that will apply it.
            let mut scratch = T::default();
            setting
                .apply(&mut scratch, Value::Text(text.to_owned()), Source::Flag)
                .map(|()| text.to_owned())
                .map_err(|e| e.reason().to_owned())
        });
    match setting.kind() {
        Kind::Switch => arg
            .num_args(0..=1)
            .default_missing_value("true")
            .action(ArgAction::Set),
        Kind::List => arg.action(ArgAction::Append).value_delimiter(','),
        _ => arg.action(ArgAction::Set),
    }
}

fn given<T>(
    matches: &ArgMatches,
    table: &'static [Setting<T>],
) -> Vec<(&'static Setting<T>, Value, Source)> {
    table
        .iter()
        .filter_map(|setting| {
            let from = match matches.value_source(setting.name())? {
                ValueSource::EnvVariable => Source::Env,
                _ => Source::Flag,
            };
            let mut texts = matches.get_many::<String>(setting.name())?.cloned();
            let value = match setting.kind() {
                Kind::List => Value::List(texts.map(Value::Text).collect()),
                _ => Value::Text(texts.next()?),
            };
            Some((setting, value, from))
        })
        .collect()
}

impl clap::FromArgMatches for Flags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Flags {
            hub: given(matches, HUB_SETTINGS),
            own: given(matches, SERVE_SETTINGS),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for Flags {
    fn augment_args(cmd: Command) -> Command {
        let cmd = SERVE_SETTINGS.iter().fold(cmd, |cmd, s| cmd.arg(arg(s)));
        HUB_SETTINGS
            .iter()
            .fold(cmd.next_help_heading("Hub"), |cmd, s| cmd.arg(arg(s)))
            .next_help_heading(None::<&str>)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
